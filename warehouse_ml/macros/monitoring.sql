{#- Generic tests that watch ML models, used in properties YAML like dbt's built-ins:
      data_tests: [{wml.score_drift: {ml_model: ltv_model}}]
  Each is dbt's test macro form (`test_<name>`, what a {% test %} block compiles to). The SQL
  comes from warehouse_ml/ml/monitoring/tests_sql.py; every test returns failing rows, so
  severity, warn_if/error_if, where, limit and store_failures work as for any test.
-#}

{#- @args
  @arg model: the tested relation (dbt passes it)
  @arg column_name: the column the test is declared under (dbt passes it)
  @arg ml_model: the ML model whose training profile is the reference (the deployed version)
  @arg compare_to: 'training' (the deployed version's training profile) or 'previous_run' (the relation's run before its newest recorded one)
  @arg psi_threshold: fail when PSI is above it (none: 0.2, a significant shift; 0.1 is moderate)
  @arg threshold: another name for psi_threshold
  @arg ks_threshold: also fail when the Kolmogorov-Smirnov statistic is above it (none: KS is reported, not judged)
-#}

{#- @doc Score drift: fails (one row per drifting score column) when the distribution of a
  model's scores in the relation moved from the held-out evaluation predictions of the
  deployed version (PSI over its deciles, KS over its percentiles; NULLs left out).
  @arg score: which prediction the column holds: 'prediction' (predict_x), 'probability' (predict_x_prob) or 'auto' (the probability for a binary classifier)
  @arg categorical: true when the column holds labels or cluster ids (compared by category shares)
  @example data_tests: [{wml.score_drift: {ml_model: churn_model, psi_threshold: 0.2}}]  # under columns: - name: churn_probability
-#}
{% macro test_score_drift(model, column_name=none, ml_model=none, score='auto', compare_to='training', psi_threshold=none, threshold=none, ks_threshold=none, categorical=false) -%}
{{ _wml_monitoring_test('score_drift', model, column_name, dict(kwargs, ml_model=ml_model, score=score, compare_to=compare_to, psi_threshold=psi_threshold, threshold=threshold, ks_threshold=ks_threshold, categorical=categorical)) }}
{%- endmacro %}

{#- @doc Feature drift: fails (one row per drifting feature) when a model's input columns in
  the relation moved from their training distribution (PSI over the training deciles or top
  20 categories, KS over the training percentiles; NULLs left out).
  @arg features: the feature columns to compare (default: the column the test is declared under)
  @arg categorical: the features that are text or booleans (a list; true under a text column)
  @example data_tests: [{wml.feature_drift: {ml_model: ltv_model, features: [recency_days, frequency, monetary]}}]
-#}
{% macro test_feature_drift(model, column_name=none, ml_model=none, features=none, compare_to='training', psi_threshold=none, threshold=none, ks_threshold=none, categorical=none) -%}
{{ _wml_monitoring_test('feature_drift', model, column_name, dict(kwargs, ml_model=ml_model, features=features, compare_to=compare_to, psi_threshold=psi_threshold, threshold=threshold, ks_threshold=ks_threshold, categorical=categorical)) }}
{%- endmacro %}

{#- @doc Segment stability: fails when more than `threshold` of the profiles present in this
  and the previous recorded build of the relation changed segment (tier, cohort, cluster)
  in between. Each build keeps the segment per id for the next one (wml.segment_snapshots).
  @arg id_column: the profile id column
  @arg threshold: the largest share of profiles that may change segment between runs
  @example data_tests: [{wml.segment_stability: {id_column: profile_id, threshold: 0.1}}]  # under columns: - name: purchase_intent
-#}
{% macro test_segment_stability(model, column_name=none, id_column='profile_id', threshold=0.1) -%}
{{ _wml_monitoring_test('segment_stability', model, column_name, dict(kwargs, id_column=id_column, threshold=threshold)) }}
{%- endmacro %}

{#- @doc Performance decay: once labels arrive, fails when the metric on the matured rows (label
  not NULL; narrow them with `where`) is, over its whole confidence interval, worse than the
  deployed version's evaluation metric by more than `tolerance`.
  @arg prediction: the column with the model's output (a probability for auc, a label for accuracy, a number for rmse and mae); default: the column the test is declared under
  @arg label: the column with the observed outcome (0/1 or boolean for auc)
  @arg metric: auc, accuracy, rmse or mae
  @arg tolerance: how much worse than the evaluation metric the interval must lie
  @arg confidence: the interval's level (0.8, 0.9, 0.95, 0.98, 0.99, 0.999)
  @example data_tests: [{wml.performance_decay: {ml_model: churn_model, prediction: churn_probability, label: churned, metric: auc}}]
-#}
{% macro test_performance_decay(model, column_name=none, ml_model=none, prediction=none, label=none, metric='auc', tolerance=0.0, confidence=0.95) -%}
{{ _wml_monitoring_test('performance_decay', model, none, dict(kwargs, ml_model=ml_model, prediction=prediction or column_name, label=label, metric=metric, tolerance=tolerance, confidence=confidence)) }}
{%- endmacro %}
