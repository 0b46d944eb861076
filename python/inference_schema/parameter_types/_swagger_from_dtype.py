"""numpy dtype -> JSON schema, as inference-schema describes arrays and data frame columns."""

_SIMPLE_TYPES = {
    "int8": {"type": "integer", "format": "int8"},
    "int16": {"type": "integer", "format": "int16"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "uint8": {"type": "integer", "format": "uint8"},
    "uint16": {"type": "integer", "format": "uint16"},
    "uint32": {"type": "integer", "format": "uint32"},
    "uint64": {"type": "integer", "format": "uint64"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "float16": {"type": "number", "format": "float"},
    "float32": {"type": "number", "format": "float"},
    "float64": {"type": "number", "format": "double"},
    "object": {"type": "object"},
}


class Dtype2Swagger:
    @staticmethod
    def convert_dtype_to_swagger(dtype):
        """Schema of one element of `dtype` (scalar, sub-array or structured)."""
        names = getattr(dtype, "names", None)
        if names:
            return {
                "type": "object",
                "properties": {
                    name: Dtype2Swagger.convert_dtype_to_swagger(dtype[name]) for name in names
                },
            }
        subdtype = getattr(dtype, "subdtype", None)
        if subdtype is not None:
            item = Dtype2Swagger.convert_dtype_to_swagger(subdtype[0])
            return Dtype2Swagger.handle_swagger_array(item, subdtype[1])
        return Dtype2Swagger.convert_simple_dtype_to_swagger(dtype)

    @staticmethod
    def handle_swagger_array(item_schema, shape):
        """Nests `item_schema` in one array level per dimension of `shape` (at least one)."""
        schema = {"type": "array", "items": item_schema}
        for _ in range(max(len(shape), 1) - 1):
            schema = {"type": "array", "items": schema}
        return schema

    @staticmethod
    def convert_simple_dtype_to_swagger(dtype):
        name = str(getattr(dtype, "name", dtype)).lower()
        if name in _SIMPLE_TYPES:
            return dict(_SIMPLE_TYPES[name])
        if name.startswith(("int", "uint")):  # pandas nullable Int64 and friends
            return {"type": "integer", "format": "int64"}
        if name.startswith("float"):
            return {"type": "number", "format": "double"}
        if name.startswith("datetime"):
            return {"type": "string", "format": "date-time"}
        if name.startswith("timedelta"):
            return {"type": "string", "format": "timedelta"}
        if name.startswith(("str", "unicode")) or name == "string":
            return {"type": "string"}
        if name.startswith(("bytes", "void")):
            return {"type": "string", "format": "binary"}
        if name == "category":
            return {"type": "string"}
        raise TypeError(f"We currently do not support extracting schema from data of type {name}")
