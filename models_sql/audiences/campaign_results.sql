-- Lift of the win-back campaign (winback_campaign): each arm, and both arms together,
-- against the holdout, with a 95% confidence interval and a two-sided z-test. Outcomes
-- are the orders the generated data holds after the assignment day (the generator plants
-- a real effect for treated members; warehouse_ml/demo/campaign.py).
{%- set pooled -%}
(select case when arm = 'holdout' then 'holdout' else 'treated' end as arm, converted
 from {{ ref('winback_campaign') }})
{%- endset %}
select * from ({{ wml.proportion_lift(ref('winback_campaign'), 'arm', 'converted', control='holdout') }}) as by_arm
union all
select * from ({{ wml.proportion_lift(pooled, 'arm', 'converted', control='holdout') }}) as both_arms
