"""Data contracts: pyarrow schemas of the record types and the expectations every dataset must meet."""
