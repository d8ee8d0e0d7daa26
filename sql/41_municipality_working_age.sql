-- Municipality characteristics, part 2 of 3: the working-age (30-59) shares of one study year,
-- getvariable('characteristics_loop_year'); pipeline/municipalities.py collects the years in
-- municipality_working_age.
with residents_30_59 as (
    select residents.lopenr, residents.kommnr_2020, residents.aar, residents.immigrant_background, grunnbelop.g
    from residents
    join stg_grunnbelop as grunnbelop using (aar)
    where residents.age_30_59 and residents.aar = getvariable('characteristics_loop_year')
),

-- right joins, so that DuckDB builds its hash tables on the residents aged 30-59 and streams the whole
-- income and education registers past them (building on the registers took twice the time)
with_income as (
    select
        residents_30_59.*,
        inntekt.yrkinnt,
        coalesce(inntekt.sosialhjelp, 0) + coalesce(inntekt.grunn_hjelpestonad, 0)
            + coalesce(inntekt.bostotte, 0) as benefits
    from (select * from stg_inntekt where aar = getvariable('characteristics_loop_year')) as inntekt
    right join residents_30_59 using (lopenr, aar)
),

working_age as (
    -- no income record counts as not employed; benefits exceed income only when there are benefits
    select
        with_income.kommnr_2020,
        with_income.aar,
        with_income.immigrant_background,
        with_income.yrkinnt,
        coalesce(with_income.yrkinnt, 0) > with_income.g as employed,
        coalesce(with_income.yrkinnt, 0) > 4 * with_income.g as income_over_4g,
        utdanning.nus_igang is not null as in_education,
        coalesce(left(utdanning.nus_hoyeste, 1) in ('6', '7', '8'), false) as higher_education,
        with_income.benefits
    from (select * from stg_utdanning where aar = getvariable('characteristics_loop_year')) as utdanning
    right join with_income using (lopenr, aar)
),

working_age_stats as (
    select
        kommnr_2020,
        aar,
        count(*) as befolkning_30_59,
        avg(yrkinnt) as inntekt_30_59,
        avg(employed::integer) as andel_sysselsatt_30_59,
        avg((employed or in_education)::integer) as andel_arbeid_utdanning_30_59,
        avg(higher_education::integer) as andel_hoyere_utdanning_30_59,
        avg((benefits > 0 and benefits > coalesce(yrkinnt, 0))::integer) as andel_sosialstonad_30_59,
        avg((income_over_4g or higher_education)::integer)
            filter (where immigrant_background) as andel_innv_hoy_utd_inntekt_30_59
    from working_age
    group by kommnr_2020, aar
)

select * from working_age_stats;
