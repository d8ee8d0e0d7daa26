"""Columns of the tables that cross stage boundaries (outputs.md), with their meaning.

The panel stage writes these; describe, estimate and figures read them. Tests check both sides.
"""
from __future__ import annotations

PERSON_YEAR: dict[str, str] = {
    "lopenr": "pseudonymised person id (string)",
    "aar": "year t (int)",
    "kategori": "overforing / asyl / familie",
    "botid": "t - innvandringsaar - 1 (int, >= 0)",
    "alder": "t - foedselsaar (int)",
    "kjonn": "1 male, 2 female (int)",
    "fodeland_gruppe": "syria iran irak afghanistan sudan somalia etiopia eritrea annet",
    "innvandringsaar": "year of first registered residence (int)",
    "alder_innvandring": "innvandringsaar - foedselsaar (int)",
    "bosettingskommune": "residence 1 Jan after the immigration year, 2020 code",
    "kommnr_2020": "residence 1 Jan of t, 2020 code",
    "partner_innvandring": "partner 1 Jan after the immigration year (0/1)",
    "barn_innvandring": "own resident children under 18 then: 0, 1, 2, 3 (= 3+)",
    "utdanning_innvandring": "NUS group 1 Oct of the year after immigration: 0-5, 99 missing",
    "yrkinnt": "yrkesinntekt of t, NOK (int)",
    "g": "grunnbeløp on 1 May of t, NOK (int)",
    "sysselsatt": "yrkinnt > g (0/1); > employment_threshold_g · g when that option is set",
    "i_utdanning": "ongoing education 1 Oct of t (0/1)",
    "arbeid_utdanning": "sysselsatt or i_utdanning (0/1)",
}

# One row per person of the study population (methods.md §1: a category, immigrated in the study years,
# settling before the data end), whether or not the person has a person-year.
REFUGEES: dict[str, str] = {
    "lopenr": PERSON_YEAR["lopenr"],
    "kategori": PERSON_YEAR["kategori"],
    "kjonn": PERSON_YEAR["kjonn"],
    "foedselsaar": "birth year (int)",
    "fodeland_gruppe": PERSON_YEAR["fodeland_gruppe"],
    "innvandringsaar": PERSON_YEAR["innvandringsaar"],
    "alder_innvandring": PERSON_YEAR["alder_innvandring"],
    "bosettingsaar": "innvandringsaar + 1: the 1 January arrival characteristics are read on",
    "bosettingskommune": PERSON_YEAR["bosettingskommune"] + "; missing when not resident then",
    "partner_innvandring": PERSON_YEAR["partner_innvandring"],
    "barn_innvandring": PERSON_YEAR["barn_innvandring"],
    "utdanning_innvandring": PERSON_YEAR["utdanning_innvandring"],
}

# One row per 2020 municipality and study year. Shares are fractions in [0, 1]; persons counted
# are those resident on 1 January of `aar` (methods.md §5). 30-59 measures use age = aar - foedselsaar
# and that year's income and 1 October education records.
MUNICIPALITY_YEAR: dict[str, str] = {
    "kommnr_2020": "2020 municipality code",
    "aar": "year (int)",
    "kommunenavn": "name (2020)",
    "befolkning": "persons resident 1 January",
    "andel_flyktningbakgrunn": "share with a refugee-related reason for immigration (refugee_background codes)",
    "andel_innvandrere": "share invkat B",
    "andel_norskfodte_innv_foreldre": "share invkat C",
    "andel_innvandringsbakgrunn": "share invkat B or C",
    "andel_innvandringsbakgrunn_ikke_flukt": "share invkat B or C without a refugee-related reason",
    "andel_bakgrunn_europa": "share B/C with landbakgrunn in Europe (incl. Cyprus, excl. Turkey)",
    "andel_bakgrunn_afrika": "share B/C with landbakgrunn in Africa",
    "andel_bakgrunn_asia": "share B/C with landbakgrunn in Asia (incl. Turkey, excl. Cyprus)",
    "andel_bakgrunn_nord_amerika": "share B/C with landbakgrunn in North America",
    "andel_bakgrunn_latin_amerika": "share B/C with landbakgrunn in South and Central America",
    "andel_bakgrunn_oseania": "share B/C with landbakgrunn in Oceania",
    "befolkning_30_59": "residents aged 30-59",
    "inntekt_30_59": "mean yrkinnt of residents 30-59 with an income record (NOK)",
    "andel_sysselsatt_30_59": "share of 30-59 with yrkinnt > G",
    "andel_arbeid_utdanning_30_59": "share of 30-59 employed or in education",
    "andel_hoyere_utdanning_30_59": "share of 30-59 with NUS first digit 6-8",
    "andel_sosialstonad_30_59": "share of 30-59 with sosialhjelp + grunn_hjelpestonad + bostotte > yrkinnt",
    "andel_innv_hoy_utd_inntekt_30_59": "share of B/C aged 30-59 with yrkinnt > 4 G and/or higher education",
    "bosatt_overforing": "study-population persons of the category settled here with settlement year aar",
    "bosatt_asyl": "same, asyl",
    "bosatt_familie": "same, familie",
    "bosatt_flukt": "all persons with a refugee-related reason (incl. 713, 71) settled here, settlement year aar",
    "sentralitetsindeks": "SSB centrality index 2020 (0-1000)",
    "sentralitetsklasse": "SSB centrality class 2020 (1-6)",
    "okonomisk_region": "economic region 2020",
    "sykehus_i_region": "the economic region has a larger hospital (0/1)",
    "andel_industri_2010": "share of employment in manufacturing (SN2007 C), 2010",
    "andel_primaer_2010": "share of employment in agriculture, forestry and fishing (SN2007 A), 2010",
}
# "Settlement year" = immigration year + 1: the 1 January on which the settlement municipality is read.
