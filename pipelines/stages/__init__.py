"""One module per stage: plan its output versions, then add its transforms to a pipeline."""
