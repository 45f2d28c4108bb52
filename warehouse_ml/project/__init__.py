"""Reading a project folder into nodes: settings, profiles, config, YAML, tests."""
