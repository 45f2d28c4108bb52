-- Singular data test: returns the failing rows (none when every score is in [0, 1]).
select * from {{ ref('purchase_scores') }}
where purchase_probability < 0 or purchase_probability > 1
