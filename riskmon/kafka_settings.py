"""The Kafka client security settings, from :class:`riskmon.settings.Settings`."""

from __future__ import annotations

from riskmon.settings import Settings
from streams.kafka_client import KafkaClientConfig


def kafka_client(settings: Settings) -> KafkaClientConfig:
    """The checked client config; raises :class:`KafkaClientConfigError` with one clear line."""
    # RISKMON_KAFKA_SASL_PASSWORD_FILE works like every other *_FILE setting (riskmon.secrets).
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
    )
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
