-- The persons the panel and the settlement counts look up: everyone with a reason for immigration in a
-- category or in the refugee background, and their children. The one pass over the registers
-- (pipeline/registers/municipalities.py) keeps their rows of residence, income and education (sql/29), so that
-- the panel's lookups (settlement, children, person-years, sample flow, settlement counts) never scan a
-- whole register again.
create or replace temp table related_persons as
with related_reason as (
    select kode from ref_category
    union
    select kode from ref_refugee_code
),

reason_persons as (
    select personer.lopenr
    from stg_personer as personer
    semi join related_reason on related_reason.kode = personer.innvandringsgrunn
),

-- the persons with such a reason and their children, in one scan of personer
final as (
    select personer.pid, personer.lopenr
    from keyed_personer as personer
    where personer.lopenr in (select lopenr from reason_persons)
        or personer.mor_lopenr in (select lopenr from reason_persons)
        or personer.far_lopenr in (select lopenr from reason_persons)
)

select * from final;
