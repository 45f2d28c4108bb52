"""A small project with one table to sync, shared by the sync tests."""

from __future__ import annotations

import textwrap

PEOPLE = "id,name,score,email\n1,ada,0.5,a@x.io\n2,bob,0.7,b@x.io\n3,cy,0.1,c@x.io\n4,di,0.9,d@x.io\n5,ed,0.3,e@x.io\n"
MODEL = "{{ config(materialized='table') }}\nselect * from {{ ref('people') }}\n"


def write_project(project, syncs_yaml: str, people: str = PEOPLE) -> None:
    """Seed ``people``, table ``scores`` over it, and the given ``syncs:`` YAML."""
    project.write({
        "seeds/people.csv": people,
        "models_sql/scores.sql": MODEL,
        "models_sql/syncs.yml": textwrap.dedent(syncs_yaml),
    })  # fmt: skip


def set_people(project, people: str) -> None:
    """Replace the seed and rebuild the table (a new state of the source)."""
    (project.root / "seeds/people.csv").write_text(people, encoding="utf-8")
    result = project.wml("build")
    assert result.exit_code == 0, result.output


def hook_yaml(url_env: str = "HOOK_URL", extra: str = "") -> str:
    return f"""
    syncs:
      - name: scores_hook
        source: scores
        key: id
        fields: {{full_name: name, score: score}}
        destination:
          type: http
          url: "{{{{ env_var('{url_env}') }}}}/in"
          headers: {{Authorization: "Bearer {{{{ env_var('HOOK_TOKEN') }}}}"}}
          batch_size: 2
          backoff: 0.01
          timeout: 1
{textwrap.indent(textwrap.dedent(extra), '          ')}
    """
