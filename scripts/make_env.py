"""Print a fresh .env for a local installation, with newly generated random secrets."""

import base64
import secrets

from cryptography.fernet import Fernet


def main() -> None:
    kek = base64.b64encode(secrets.token_bytes(32)).decode()
    print(f"""# Generated for this checkout by scripts/make_env.py. Never commit this file.
SECRET_KEY={secrets.token_urlsafe(50)}
AUDIT_SIGNING_KEY={secrets.token_urlsafe(48)}
KMS_MASTER_KEYS=k1:{kek}
LEGACY_ENCRYPTION_KEY={Fernet.generate_key().decode()}
ALLOWED_HOSTS=127.0.0.1,localhost
EMAIL_URL=consolemail://
# The demo administrator `make run` ensures (local development only).
DEMO_ADMIN_EMAIL=admin@tristate.local
DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}
# DATABASE_URL is taken from the environment, else the project-local cluster (scripts/pg.sh).
""")


if __name__ == "__main__":
    main()
