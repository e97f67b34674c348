"""`make bootstrap`: the first platform operator client of a deployed stack
(`chalicelib.services.bootstrap.create_platform_client`), its secret printed once.

It runs with exactly the settings of the stack's token endpoint function (its environment as
deployed: tables, keys, issuer, the sealed secret-hashing key), so the hash it writes is the
one that function checks. A stack that already has a platform client gets none: it says so and
changes nothing, so running it again is harmless.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.api._permissions import function_name
from chalicelib.config import AWS_REGION, Settings
from infra.deploy import DEFAULT_STACK

TOKEN_FUNCTION = function_name("POST", "/oauth/token")
CREDENTIAL_PREFIX = "CRED#"


@dataclass(frozen=True)
class Outcome:
    client_id: str
    client_secret: str | None  # None: the client existed already, nothing was created


def stack_settings(session: Any, stack: str) -> Settings:
    """The settings the stack's token endpoint function runs with."""
    cfn, lambda_ = session.client("cloudformation"), session.client("lambda")
    resource = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=TOKEN_FUNCTION)
    name = resource["StackResourceDetail"]["PhysicalResourceId"]
    env = dict(lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    env[AWS_REGION] = session.region_name
    return Settings.from_env(env)  # refuses a stack whose first deploy did not finish


def existing_platform_client() -> Any:
    """A platform operator's credential, if there is one (one query of the `PLATFORM` partition)."""
    from chalicelib.store.models import PLATFORM_PK, CredentialModel

    found = CredentialModel.query(
        PLATFORM_PK, CredentialModel.sk.startswith(CREDENTIAL_PREFIX), limit=1, consistent_read=True
    )
    return next(iter(found), None)


def bootstrap(session: Any, stack: str) -> Outcome:
    from chalicelib.services.bootstrap import create_platform_client
    from chalicelib.services.container import Container

    container = Container(stack_settings(session, stack))  # points the models at the stack's tables
    existing = existing_platform_client()
    if existing is not None:
        return Outcome(existing.client_id, None)
    client_id, secret = create_platform_client(container)
    return Outcome(client_id, secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bootstrap", description="the first platform operator client")
    parser.add_argument("--stack", default=DEFAULT_STACK)
    parser.add_argument("--region", default=None, help="default: the AWS configuration's")
    args = parser.parse_args(argv)
    import boto3

    session = boto3.session.Session(region_name=args.region)
    try:
        outcome = bootstrap(session, args.stack)
    except (ValueError, BotoCoreError, ClientError) as exc:  # a refusal of the settings, AWS's answer
        print(f"make bootstrap: {exc}", file=sys.stderr)
        return 1
    if outcome.client_secret is None:
        print(
            f"{args.stack} already has a platform client ({outcome.client_id}): nothing done. "
            "Its secret was shown once, when it was made."
        )
        return 0
    print(f"platform client of {args.stack} (the secret is shown this once: keep it now)")
    print(f"  client_id:     {outcome.client_id}")
    print(f"  client_secret: {outcome.client_secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
