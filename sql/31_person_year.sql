-- Candidate rows of the refugee person-year panel (methods.md §1): resident on 1 January of t, with
-- their income and education of t. Every candidate row keeps the rule that excludes it, for the sample
-- flow; sql/33_person_year.sql keeps the others and defines the outcomes.
create or replace temp table person_year_candidates as
with residence as (
    select refugees.*, bosted.aar, bosted.kommnr_2020
    from refugees
    join related_bosted as bosted using (lopenr)
),

income as (
    select lopenr, aar, yrkinnt from related_inntekt
),

ongoing_education as (
    select lopenr, aar from related_utdanning where in_education
),

final as (
    select
        residence.*,
        residence.aar - residence.innvandringsaar - 1 as botid,
        residence.aar - residence.foedselsaar as alder,
        income.yrkinnt,
        grunnbelop.g,
        ongoing_education.lopenr is not null as in_education,
        case
            when residence.aar < residence.bosettingsaar then 'resident_before_settlement'
            when income.lopenr is null then 'no_income_record'
        end as excluded_by
    from residence
    left join income using (lopenr, aar)
    left join ongoing_education using (lopenr, aar)
    join stg_grunnbelop as grunnbelop on grunnbelop.aar = residence.aar
)

select * from final;
