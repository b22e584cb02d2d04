"""Request decoding: request bytes to messages, never an exception.

`RequestDecoder` parses request bytes itself (instead of grpcio) so that bytes that are
not a valid message, strings that are not UTF-8 and oversized messages become field
violations (an `UndecodableRequest` the core refuses), not the INTERNAL that grpcio
answers for a failed deserialization.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from gateway.core.errors import FieldViolation, MessageTooLarge, ValidationError
from gateway.core.validation import UndecodableRequest

LENIENT_PREFIX = "lenient"

M = TypeVar("M", bound=Message)


def _lenient_class(message_class: type[Message]) -> type[Message]:
    """A twin of `message_class` whose string fields are bytes (parses any UTF-8 state)."""
    file_proto = descriptor_pb2.FileDescriptorProto()
    message_class.DESCRIPTOR.file.CopyToProto(file_proto)
    package = file_proto.package
    file_proto.name = f"{LENIENT_PREFIX}/{file_proto.name}"
    file_proto.package = f"{LENIENT_PREFIX}.{package}"
    del file_proto.service[:]

    def relax(messages: list[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            relax(list(message.nested_type))
            if message.options.map_entry:
                continue  # map keys cannot be bytes; requests carry no maps
            for field in message.field:
                if field.type == FieldDescriptor.TYPE_STRING:
                    field.type = FieldDescriptor.TYPE_BYTES
                if field.type_name.startswith(f".{package}."):
                    field.type_name = f".{LENIENT_PREFIX}{field.type_name}"

    relax(list(file_proto.message_type))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    name = f"{LENIENT_PREFIX}.{message_class.DESCRIPTOR.full_name}"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


class RequestDecoder(Generic[M]):
    """Deserializer for one request type that never raises (see module docstring)."""

    def __init__(self, message_class: type[M], max_bytes: int) -> None:
        self._class = message_class
        self._lenient = _lenient_class(message_class)
        self._max_bytes = max_bytes

    def __call__(self, data: bytes) -> M | UndecodableRequest:
        if len(data) > self._max_bytes:
            return UndecodableRequest(self._too_large(data))
        try:
            return self._class.FromString(data)
        except DecodeError:
            return UndecodableRequest(ValidationError(self._explain(data)))

    def _too_large(self, data: bytes) -> MessageTooLarge:
        field: str = "request"
        try:
            lenient = self._lenient.FromString(data)
            sized = [(_size(value), field.name) for field, value in lenient.ListFields()]
            field = max(sized)[1] if sized else field
        except DecodeError:
            pass
        return MessageTooLarge(
            [
                FieldViolation(
                    field,
                    f"message of {len(data)} bytes is over the limit of {self._max_bytes} bytes",
                )
            ]
        )

    def _explain(self, data: bytes) -> list[FieldViolation]:
        try:
            lenient = self._lenient.FromString(data)
        except DecodeError:
            return [FieldViolation("request", f"not a valid {self._class.DESCRIPTOR.name}")]
        violations = []
        for field, value in lenient.ListFields():
            original = self._class.DESCRIPTOR.fields_by_name[field.name]
            if original.type != FieldDescriptor.TYPE_STRING:
                continue
            values = list(value) if _is_repeated(field) else [value]
            for index, raw in enumerate(values):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    path = f"{field.name}[{index}]" if _is_repeated(field) else field.name
                    violations.append(FieldViolation(path, f"not valid UTF-8 (byte {err.start})"))
        return violations or [
            FieldViolation("request", f"not a valid {self._class.DESCRIPTOR.name}")
        ]


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _size(value: object) -> int:
    if isinstance(value, bytes | str):
        return len(value)
    try:
        return sum(len(v) for v in value)  # type: ignore[attr-defined, misc]
    except TypeError:
        return 0
