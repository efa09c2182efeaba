"""What a cascade is: its config schema and the exit policies (plain numpy).

Shared by the live router (serve_app) and the offline planner, so both run the same code.
"""
