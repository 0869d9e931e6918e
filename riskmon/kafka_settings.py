"""The Kafka client security settings, from :class:`riskmon.settings.Settings`."""

from __future__ import annotations

from riskmon.settings import Settings
from streams.kafka_client import KafkaClientConfig, KafkaClientConfigError


def kafka_client(settings: Settings) -> KafkaClientConfig:
    """The checked client config; raises :class:`KafkaClientConfigError` with one clear line."""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
    )
    if settings.kafka_sasl_password_file is not None:
        try:
            text = settings.kafka_sasl_password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KafkaClientConfigError(
                f"RISKMON_KAFKA_SASL_PASSWORD_FILE: cannot read {exc.__class__.__name__}"
            ) from None
        password = text.splitlines()[0] if text.strip() else ""
    return KafkaClientConfig(
        security_protocol=settings.kafka_security_protocol,
        ssl_cafile=settings.kafka_ssl_cafile,
        ssl_certfile=settings.kafka_ssl_certfile,
        ssl_keyfile=settings.kafka_ssl_keyfile,
        ssl_check_hostname=settings.kafka_ssl_check_hostname,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=password,
    ).validate()
