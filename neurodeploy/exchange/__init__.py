"""Exchange formats: NIR graphs (export with a discretization contract, import of any
tool's graphs) and the ONNX export lives with its target (``neurodeploy.targets.onnx``)."""
