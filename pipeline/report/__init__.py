"""Stage `report`: the self-contained HTML report (OUT/rapport.html or report.html) and one card per
municipality (OUT/kommuner/KOMMNR.html), built only from the releasable files in OUT.

sources.py reads OUT (tables as text, so the suppression marker survives), fmt.py formats numbers in
the report's language, tables.py turns releasable tables into HTML table models, svg.py draws the
cards' charts as inline SVG from released numbers, cards.py assembles a card, stage.py renders the
Jinja2 templates in templates/ and writes the files.
"""
