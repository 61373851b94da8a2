"""File formats: parsing at the edge into domain values, with problems as data."""
