-- Conversion on recommended items per arm of the recommender experiment (recs_experiment),
-- the recommender's lift over the popular list with a 95% interval and a z-test, in SQL.
{{ wml.proportion_lift(ref('recs_experiment'), 'arm', 'converted', control='popular') }}
