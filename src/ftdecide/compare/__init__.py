"""``compare``: run the method's arms on an eval set and turn answers into evidence.

Config → arms and prompts → runner (recorded, cached, resumable, budgeted)
→ metrics and statistics → economics → results for the report.
"""
