"""Building the model a config describes for its fitted data, and binding its loss to the
classes (`model.build_model`): the one place training, gradcheck, inference, the report and
validate get their model from."""
