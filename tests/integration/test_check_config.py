"""check-config tells the truth (issue 16): it fails, exit 3, where run
would fail for a bad configuration — a secret variable unset or empty, a
librdkafka property librdkafka refuses (in the file: FILE:LINE; on the
command line: the -X flag) — and shows where each account's calls go."""
import os

import harness
from harness import SECRETS, SECRET_SENTINEL, run_cli

KAFKA_ENV = dict(SECRETS, KAFKA_SASL_PASSWORD="kp-SENTINEL-kafka")
SHIPPED = os.path.join(harness.SOURCE_DIR, "config", "erasure-worker.conf")


def shipped_variant(workdir, old, new):
    with open(SHIPPED) as f:
        text = f.read()
    assert old in text, old
    text = text.replace(old, new, 1)
    link = os.path.join(workdir, "providers.conf")
    if not os.path.exists(link):
        os.symlink(os.path.join(harness.SOURCE_DIR, "config", "providers.conf"), link)
    path = os.path.join(workdir, "variant.conf")
    with open(path, "w") as f:
        f.write(text)
    return path, text[:text.index(new)].count("\n") + 1


def test_unset_or_empty_secret_fails_unless_no_secrets():
    for value in (None, ""):
        env = dict(KAFKA_ENV)
        if value is None:
            del env["CONVAI_API_KEY"]
            os.environ.pop("CONVAI_API_KEY", None)
        else:
            env["CONVAI_API_KEY"] = value
        r = run_cli("check-config", "-c", SHIPPED, env=env)
        assert r.returncode == 3, (value, r.stdout, r.stderr)
        assert "CONVAI_API_KEY" in r.stderr and f"{SHIPPED}:" in r.stderr
        assert SECRET_SENTINEL not in r.stdout + r.stderr
        # Image builds and CI have no secrets: they say so.
        r = run_cli("check-config", "--no-secrets", "-c", SHIPPED, env=env)
        assert r.returncode == 0, r.stderr
        assert "secret from $CONVAI_API_KEY: not checked (--no-secrets)" in r.stdout
    # The Kafka password read from the environment counts as well.
    r = run_cli("check-config", "-c", SHIPPED, env=SECRETS)
    if "KAFKA_SASL_PASSWORD" not in os.environ:
        assert r.returncode == 3 and "KAFKA_SASL_PASSWORD" in r.stderr, r.stderr


def test_accounts_show_url_scheme_transport_never_secrets():
    r = run_cli("check-config", "-c", SHIPPED, env=KAFKA_ENV)
    assert r.returncode == 0, r.stderr
    assert ("  base_url=https://api.vectara.io auth=api_key plain_http=no "
            "tls_verify=on") in r.stdout
    assert "secret from $AVAAMO_ACCESS_TOKEN: set (value never printed)" in r.stdout
    assert SECRET_SENTINEL not in r.stdout + r.stderr
    assert "masked" not in r.stdout


def test_misspelt_librdkafka_property_in_file_names_file_line(workdir):
    path, line = shipped_variant(workdir, '"session.timeout.ms=', '"sesion.timeout.ms=')
    for cmd in ("check-config", "run"):
        r = run_cli(cmd, "-c", path, env=KAFKA_ENV, timeout=20)
        assert r.returncode == 3, (cmd, r.stdout, r.stderr)
        assert f"{path}:{line}: kafka.consumer.[0]: librdkafka property " \
               "sesion.timeout.ms: No such configuration property" in r.stderr, r.stderr
    # A bad value is refused the same way.
    path, line = shipped_variant(workdir, '"session.timeout.ms=45000"',
                                 '"session.timeout.ms=soon"')
    r = run_cli("check-config", "-c", path, env=KAFKA_ENV)
    assert r.returncode == 3 and f"{path}:{line}:" in r.stderr, r.stderr


def test_bad_dash_x_names_the_flag():
    for cmd in ("check-config", "run"):
        r = run_cli(cmd, "-c", SHIPPED, "-X", "sesion.timeout.ms=5", env=KAFKA_ENV,
                    timeout=20)
        assert r.returncode == 3, (cmd, r.stdout, r.stderr)
        assert "-X sesion.timeout.ms: librdkafka property sesion.timeout.ms" in r.stderr
    r = run_cli("check-config", "-c", SHIPPED, "-X", "security.protocol=sideways",
                env=KAFKA_ENV)
    assert r.returncode == 3 and "-X security.protocol:" in r.stderr, r.stderr


def test_missing_include_is_named(workdir):
    path, line = shipped_variant(workdir, '@include "providers.conf"',
                                 '@include "provider.conf"')
    r = run_cli("check-config", "-c", path, env=KAFKA_ENV)
    assert r.returncode == 3, r.stderr
    assert f'{path}:{line}: cannot open include file "provider.conf" ' \
           f'(looked for in {workdir})' in r.stderr, r.stderr


def test_metrics_port_flag_overrides_the_file():
    r = run_cli("check-config", "--json", "--metrics-port", "9555", "-c", SHIPPED,
                env=KAFKA_ENV)
    assert r.returncode == 0, r.stderr
    assert '"port": 9555' in r.stdout, r.stdout
    r = run_cli("check-config", "--metrics-port", "0", "-c", SHIPPED, env=KAFKA_ENV)
    assert r.returncode == 2 and "--metrics-port" in r.stderr
