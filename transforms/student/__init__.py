"""Student: the compact text encoder shared by the pruning benchmark and dataset distillation.

It reads token-embedding sequences over a frozen table, so a distilled set of learned synthetic
sequences feeds the same model that real texts do.
"""
