-- Today's computed traits per profile (as of var('as_of')): what the ML model scores.
{{ profile_features(var('as_of')) }}
