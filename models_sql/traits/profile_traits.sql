-- Today's computed traits per profile (as of var('as_of')): what the models score.
{{ profile_features(var('as_of')) }}
