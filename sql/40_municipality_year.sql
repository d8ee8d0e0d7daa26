-- Municipality characteristics per 2020 municipality and study year (methods.md §5), from everyone
-- resident on 1 January. Ages 30-59 use age = aar - birth year and that year's income and education.
create or replace table municipality_year as
-- residents is read twice, not stored: a copy of every resident does not fit a 3 GB memory limit
with residents as not materialized (
    select
        bosted.kommnr_2020,
        bosted.aar,
        bosted.lopenr,
        bosted.aar - personer.foedselsaar between 30 and 59 as age_30_59,
        personer.invkat in ('B', 'C') as immigrant_background,
        personer.invkat = 'B' as immigrant,
        personer.invkat = 'C' as norwegian_born_to_immigrants,
        refugee_code.kode is not null as refugee_background,
        region.region
    from harmonised_bosted as bosted
    join stg_personer as personer using (lopenr)
    left join ref_refugee_code as refugee_code on refugee_code.kode = personer.innvandringsgrunn
    left join ref_country_region as region on region.landkode = personer.landbakgrunn
),

population as (
    select
        kommnr_2020,
        aar,
        count(*) as befolkning,
        avg(refugee_background::integer) as andel_flyktningbakgrunn,
        avg(immigrant::integer) as andel_innvandrere,
        avg(norwegian_born_to_immigrants::integer) as andel_norskfodte_innv_foreldre,
        avg(immigrant_background::integer) as andel_innvandringsbakgrunn,
        avg((immigrant_background and not refugee_background)::integer) as andel_innvandringsbakgrunn_ikke_flukt,
        avg((immigrant_background and region = 'europa')::integer) as andel_bakgrunn_europa,
        avg((immigrant_background and region = 'afrika')::integer) as andel_bakgrunn_afrika,
        avg((immigrant_background and region = 'asia')::integer) as andel_bakgrunn_asia,
        avg((immigrant_background and region = 'nord_amerika')::integer) as andel_bakgrunn_nord_amerika,
        avg((immigrant_background and region = 'latin_amerika')::integer) as andel_bakgrunn_latin_amerika,
        avg((immigrant_background and region = 'oseania')::integer) as andel_bakgrunn_oseania
    from residents
    group by kommnr_2020, aar
),

residents_30_59 as (
    select residents.lopenr, residents.kommnr_2020, residents.aar, residents.immigrant_background, grunnbelop.g
    from residents
    join stg_grunnbelop as grunnbelop using (aar)
    where residents.age_30_59
),

-- right joins, so that DuckDB builds its hash tables on the residents aged 30-59 and streams the whole
-- income and education registers past them (building on the registers took twice the time)
with_income as (
    select
        residents_30_59.*,
        inntekt.yrkinnt,
        coalesce(inntekt.sosialhjelp, 0) + coalesce(inntekt.grunn_hjelpestonad, 0)
            + coalesce(inntekt.bostotte, 0) as benefits
    from stg_inntekt as inntekt
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
    from stg_utdanning as utdanning
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
),

settled_study_population as (
    select
        bosettingskommune as kommnr_2020,
        bosettingsaar as aar,
        count(*) filter (where kategori = 'overforing') as bosatt_overforing,
        count(*) filter (where kategori = 'asyl') as bosatt_asyl,
        count(*) filter (where kategori = 'familie') as bosatt_familie
    from refugees
    where bosettingskommune is not null
    group by all
),

settled_refugee_background as (
    -- all refugee-related reasons (incl. 713 and 71), settled in the municipality of 1 January after arrival
    select bosted.kommnr_2020, bosted.aar, count(*) as bosatt_flukt
    from stg_personer as personer
    join ref_refugee_code as refugee_code on refugee_code.kode = personer.innvandringsgrunn
    join related_bosted as bosted
        on bosted.lopenr = personer.lopenr and bosted.aar = year(personer.innvandringsdato) + 1
    group by all
),

industry as (
    select
        kommnr_2020,
        sum(sysselsatte) filter (where naering = 'C') / sum(sysselsatte) as andel_industri_2010,
        sum(sysselsatte) filter (where naering = 'A') / sum(sysselsatte) as andel_primaer_2010
    from stg_naering_2010
    group by kommnr_2020
),

grid as (
    select kommuner.*, years.aar
    from stg_kommuner_2020 as kommuner
    cross join study_years as years
),

final as (
    select
        grid.kommnr_2020,
        grid.aar,
        grid.kommunenavn,
        coalesce(population.befolkning, 0) as befolkning,
        population.* exclude (kommnr_2020, aar, befolkning),
        coalesce(working_age_stats.befolkning_30_59, 0) as befolkning_30_59,
        working_age_stats.* exclude (kommnr_2020, aar, befolkning_30_59),
        coalesce(settled_study_population.bosatt_overforing, 0) as bosatt_overforing,
        coalesce(settled_study_population.bosatt_asyl, 0) as bosatt_asyl,
        coalesce(settled_study_population.bosatt_familie, 0) as bosatt_familie,
        coalesce(settled_refugee_background.bosatt_flukt, 0) as bosatt_flukt,
        grid.sentralitetsindeks,
        grid.sentralitetsklasse,
        grid.okonomisk_region,
        grid.sykehus_i_region::integer as sykehus_i_region,
        industry.andel_industri_2010,
        industry.andel_primaer_2010
    from grid
    left join population using (kommnr_2020, aar)
    left join working_age_stats using (kommnr_2020, aar)
    left join settled_study_population using (kommnr_2020, aar)
    left join settled_refugee_background using (kommnr_2020, aar)
    left join industry using (kommnr_2020)
)

select * from final;
