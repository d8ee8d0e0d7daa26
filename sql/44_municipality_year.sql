-- Municipality characteristics, part 5: everything per 2020 municipality and study year. The population
-- and working-age shares (municipality_population, municipality_working_age) are counted from sql/40-43
-- by pipeline/registers/municipalities.py.
create or replace table municipality_year as
with settled_study_population as (
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
    left join municipality_population as population using (kommnr_2020, aar)
    left join municipality_working_age as working_age_stats using (kommnr_2020, aar)
    left join settled_study_population using (kommnr_2020, aar)
    left join settled_refugee_background using (kommnr_2020, aar)
    left join industry using (kommnr_2020)
)

select * from final;

drop table municipality_population;
drop table municipality_working_age;
