"""Request validation: everything a client can send is checked here, nothing elsewhere.

`RequestDecoder` parses request bytes itself (instead of grpcio) so that bytes that are
not a valid message, strings that are not UTF-8 and oversized messages become
field violations, not the INTERNAL that grpcio answers for a failed deserialization.
`validate_request` checks the decoded request against the configured limits.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from gateway.errors import FieldViolation, MessageTooLarge, ValidationError
from gateway.text import AnalyzedText, TextAnalyzer

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LENIENT_PREFIX = "lenient"

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class UndecodableRequest:
    """Request bytes that could not be accepted; validation raises `error`."""

    error: ValidationError


@dataclass(frozen=True)
class RawRequest:
    """A decoded request, before validation (what every RPC's message comes down to)."""

    texts: list[str]
    request_id: str
    model: str
    batch: bool
    """True for PredictBatch: violations name `texts[i]`, otherwise `text`."""


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed validation."""

    texts: list[str]
    request_id: str
    model: str
    analyzed: list[AnalyzedText]


@dataclass(frozen=True)
class Limits:
    """The limits a request is checked against (from GatewaySettings)."""

    max_text_chars: int
    max_tokens: int
    max_batch_texts: int
    models: tuple[str, ...]


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


def validate_request(raw: RawRequest, limits: Limits, analyzer: TextAnalyzer) -> ValidRequest:
    """Check a decoded request; raise ValidationError listing every bad field."""
    violations: list[FieldViolation] = []
    if raw.request_id and not REQUEST_ID.fullmatch(raw.request_id):
        violations.append(
            FieldViolation("request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        )
    if raw.model and raw.model not in limits.models:
        violations.append(
            FieldViolation("model", f"unknown model; choose one of {', '.join(limits.models)}")
        )
    if raw.batch and not raw.texts:
        violations.append(FieldViolation("texts", "at least one text is required"))
    if len(raw.texts) > limits.max_batch_texts:
        violations.append(
            FieldViolation(
                "texts", f"{len(raw.texts)} texts is over the limit of {limits.max_batch_texts}"
            )
        )
        raise ValidationError(violations)  # do not tokenize an oversized batch
    checked: list[tuple[int, str]] = []
    for index, text in enumerate(raw.texts):
        path = f"texts[{index}]" if raw.batch else "text"
        if not text.strip():
            violations.append(FieldViolation(path, "must not be empty or only whitespace"))
        elif len(text) > limits.max_text_chars:
            violations.append(
                FieldViolation(
                    path, f"{len(text)} characters is over the limit of {limits.max_text_chars}"
                )
            )
        else:
            checked.append((index, text))
    analyzed = analyzer.analyze([text for _, text in checked]) if checked else []
    for (index, _), result in zip(checked, analyzed, strict=True):
        if result.model_tokens > limits.max_tokens:
            path = f"texts[{index}]" if raw.batch else "text"
            violations.append(
                FieldViolation(
                    path, f"{result.model_tokens} tokens is over the limit of {limits.max_tokens}"
                )
            )
    if violations:
        raise ValidationError(violations)
    return ValidRequest(
        texts=raw.texts,
        request_id=raw.request_id or uuid.uuid4().hex,
        model=raw.model or limits.models[0],
        analyzed=analyzed,
    )
