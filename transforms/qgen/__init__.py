"""QGen: label-conditioned synthetic query generation with a faithfulness filter."""
