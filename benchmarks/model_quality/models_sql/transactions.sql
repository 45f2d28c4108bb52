{{ config(materialized='table') }}
-- The raw log is whitespace-aligned ("00001 19970101  1   11.77"): read each line whole
-- and split it, rather than trusting a CSV sniffer with a ragged delimiter; the header
-- line is the one that does not start with a digit.
with lines as (
    select regexp_split_to_array(trim(line), '\s+') as f
    from read_csv('{{ var("cdnow_path") }}', columns = {'line': 'VARCHAR'}, delim = '\t',
                  header = false, auto_detect = false)
    where regexp_matches(trim(line), '^[0-9]')
)
select
    cast(f[1] as integer) as customer_id,
    strptime(f[2], '%Y%m%d')::date as order_date,
    cast(f[3] as integer) as cds,
    cast(f[4] as double) as amount
from lines
