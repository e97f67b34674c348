"""`make deploy`: the stack of `make package` on AWS, with boto3 only (no AWS CLI).

1. Build `build/` if it is missing or older than the code (`infra.package.build`).
2. Upload `deployment.zip` and the template to the artifacts bucket (`ARTIFACTS_BUCKET`, or
   `vaultguard-artifacts-<account>-<region>`, created private and encrypted if absent), under
   content-addressed keys, and point every function's `CodeUri` at the zip.
3. Create or update the stack through a change set (`CAPABILITY_IAM`, `CAPABILITY_AUTO_EXPAND`:
   CloudFormation runs the SAM transform), wait, print the outputs.

The secret-hashing key (`SecretHashKeyBlob`) is sealed with the stack's own data key, which does
not exist before the stack does; and every stored secret hash depends on it, so it is made once
and kept for good. The first deploy therefore runs in two phases: the stack with the placeholder
`SECRET_HASH_KEY_PENDING` (a function started with it refuses to start, `chalicelib/config.py`),
then a fresh key sealed with the data key (its plaintext stays in this process's memory, never
printed or written) is kept in the SSM parameter `/vaultguard/<stack>/secret-hash-key-blob`, then
the stack is updated with it. Every later deploy reuses that parameter (or, if it was lost, the
sealed blob the deployed functions carry) and checks that it opens with the data key the
functions use; it never makes a second key for a stack that has one.

The issuer (`Issuer` parameter) is `ISSUER` (a custom domain) or the distribution's URL, which
also exists only once the stack does: the first phase runs with a placeholder there too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from chalicelib.auth.secrets import MIN_KEY_BYTES, SECRET_HASH_KEY_CONTEXT, new_key_blob
from chalicelib.config import KMS_DATA_KEY_ID, SECRET_HASH_KEY_BLOB, SECRET_HASH_KEY_PENDING
from chalicelib.crypto import KmsEncryptor
from chalicelib.crypto.base import DecryptionFailed, EncryptionUnavailable
from infra import package

Json = dict[str, Any]

DEFAULT_STACK = "vaultguard"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
PENDING_ISSUER = "https://pending-first-deploy.invalid"
DISTRIBUTION_OUTPUT = "DistributionDomainName"
DATA_KEY = package.DATA_KEY  # the stack's logical id of the data key
# What `make package` puts in build/; a deploy rebuilds when any of these is newer.
SOURCES = (
    "app.py",
    "chalicelib",
    ".chalice/config.json",
    "requirements.txt",
    *(f"infra/{name}" for name in ("package.py", "cdn.py", "gateway.py", "lambda_zip.py", "template.json")),
)
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
READY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


class DeployError(RuntimeError):
    """A deploy that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Options:
    stack: str = DEFAULT_STACK
    issuer: str | None = None  # a custom domain's https URL; default: the distribution's
    artifacts_bucket: str | None = None
    build_dir: Path = package.PROJECT / "build"
    poll_seconds: int = 15
    rebuild_stale: bool = True  # False: deploy build/ as it is (only a missing build is made)


def blob_parameter_name(stack: str) -> str:
    return f"/vaultguard/{stack}/secret-hash-key-blob"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ensure_built(build_dir: Path, log: Callable[[str], None] = print) -> Path:
    """`build/sam.json`, rebuilt first if it or the zip is missing or older than the code."""
    template, code = build_dir / "sam.json", build_dir / "deployment.zip"
    if template.is_file() and code.is_file():
        built = min(template.stat().st_mtime, code.stat().st_mtime)
        newer = [p for p in _source_files() if p.stat().st_mtime > built]
        if not newer:
            return template
        log(f"{newer[0].relative_to(package.PROJECT)} changed since the last build: rebuilding")
    return package.build(build_dir)


def _source_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = package.PROJECT / name
        if path.is_dir():
            files.extend(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        elif path.is_file():
            files.append(path)
    return files


def point_code_at(template: Json, bucket: str, key: str) -> Json:
    """The template with every function's code at s3://bucket/key."""
    out = json.loads(json.dumps(template))
    for resource in out["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return out


def data_key_alias(template: Json) -> str:
    """The data key id the functions decrypt with (the stage's `VAULTGUARD_KMS_DATA_KEY_ID`)."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            value = resource["Properties"]["Environment"]["Variables"].get(KMS_DATA_KEY_ID)
            if isinstance(value, str):
                return value
    raise DeployError(f"no function of the template has {KMS_DATA_KEY_ID}")


class Deployer:
    """One `make deploy` with the given boto3 session. `prepare` turns the uploaded template into
    what CloudFormation gets (the identity for AWS; the tests expand the SAM transform offline,
    which moto cannot do)."""

    def __init__(
        self,
        session: Any,
        options: Options,
        prepare: Callable[[Json], Json] = lambda template: template,
        log: Callable[[str], None] = print,
    ) -> None:
        self.options = options
        self.region: str = session.region_name
        if not self.region:
            raise DeployError("no AWS region: set REGION=... (or AWS_REGION / a profile's region)")
        self.cfn = session.client("cloudformation")
        self.s3 = session.client("s3")
        self.ssm = session.client("ssm")
        self.kms = session.client("kms")
        self.sts = session.client("sts")
        self.lambda_ = session.client("lambda")
        self.prepare = prepare
        self.log = log

    # -- the whole deploy ---------------------------------------------------------------------
    def run(self) -> dict[str, str]:
        """Create or update the stack; its outputs."""
        stack = self.options.stack
        built = self.options.build_dir / "sam.json"
        if self.options.rebuild_stale or not built.is_file():
            built = ensure_built(self.options.build_dir, self.log)
        source = json.loads(built.read_text())
        bucket = self.artifacts_bucket()
        code_key = self.upload(bucket, (self.options.build_dir / "deployment.zip").read_bytes(), "zip")
        template = self.prepare(point_code_at(source, bucket, code_key))
        body = json.dumps(template, separators=(",", ":"), sort_keys=True).encode()
        url = self.template_url(bucket, self.upload(bucket, body, "template.json"))
        alias = data_key_alias(source)

        if self.stack_status() is None:
            self.log(
                f"first deploy of {stack}, phase 1: the stack with placeholders (functions refuse to start)"
            )
            self.apply(url, template, SECRET_HASH_KEY_PENDING, self.options.issuer or PENDING_ISSUER)
        blob = self.secret_hash_key_blob(alias, source)
        issuer = self.options.issuer or f"https://{self.outputs()[DISTRIBUTION_OUTPUT]}"
        self.apply(url, template, blob, issuer)
        outputs = {
            **self.outputs(),
            "Issuer": issuer,
            "SecretHashKeyBlobParameter": blob_parameter_name(stack),
        }
        for name, value in sorted(outputs.items()):
            self.log(f"  {name}: {value}")
        return outputs

    # -- artifacts ------------------------------------------------------------------------------
    def artifacts_bucket(self) -> str:
        """`ARTIFACTS_BUCKET` as given, or this account's and region's, created if absent."""
        if self.options.artifacts_bucket:
            return self.options.artifacts_bucket
        account = self.sts.get_caller_identity()["Account"]
        name = f"vaultguard-artifacts-{account}-{self.region}"
        try:
            self.s3.head_bucket(Bucket=name)
            return name
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise DeployError(
                    f"bucket {name} exists but is not usable by you ({exc}); set ARTIFACTS_BUCKET"
                ) from exc
        self.log(f"creating the artifacts bucket {name} (private, SSE-S3)")
        create: Json = {"Bucket": name}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**create)
        self.s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        return name

    def upload(self, bucket: str, data: bytes, suffix: str) -> str:
        """Put `data` under a key named by its hash (once); the key. The same zip keeps the
        same `CodeUri`, so an unchanged package updates no function."""
        key = f"{self.options.stack}/{_sha256(data)}.{suffix}"
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="AES256")
        return key

    def template_url(self, bucket: str, key: str) -> str:
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"

    # -- the stack -----------------------------------------------------------------------------
    def stack_status(self) -> str | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.options.stack)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        status: str = stacks[0]["StackStatus"]
        if status == "REVIEW_IN_PROGRESS":  # a change set made it, nothing was ever executed
            return None
        return status

    def outputs(self) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=self.options.stack)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def apply(self, url: str, template: Json, blob: str, issuer: str) -> None:
        """One change set with these parameters, executed and waited for (nothing to do: said)."""
        stack, status = self.options.stack, self.stack_status()
        if status is not None and status not in READY:
            raise DeployError(
                f"stack {stack} is {status}: "
                + (
                    "its first creation failed; delete it (tables, keys and buckets are retained: "
                    "delete or import them too before creating it again) and run make deploy again"
                    if status == "ROLLBACK_COMPLETE"
                    else "wait for it to settle, then run make deploy again"
                )
            )
        ours = {package.SECRET_HASH_KEY_BLOB_PARAMETER: blob, package.ISSUER_PARAMETER: issuer}
        params: list[Json] = [{"ParameterKey": k, "ParameterValue": v} for k, v in ours.items()]
        if status is not None:  # keep what an operator set (throttling limits...)
            current = self.cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Parameters", [])
            previous = {p["ParameterKey"] for p in current}
            params += [
                {"ParameterKey": k, "UsePreviousValue": True}
                for k in template.get("Parameters", {})
                if k in previous and k not in ours
            ]
        name = f"make-deploy-{int(time.time())}"
        kind = "UPDATE" if status is not None else "CREATE"
        self.cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType=kind,
            TemplateURL=url,
            Parameters=params,
            Capabilities=CAPABILITIES,
        )
        wait = {
            "Delay": self.options.poll_seconds,
            "MaxAttempts": max(1, 3600 // max(1, self.options.poll_seconds)),
        }
        try:
            self.cfn.get_waiter("change_set_create_complete").wait(
                StackName=stack, ChangeSetName=name, WaiterConfig=wait
            )
        except WaiterError as exc:
            reason = self.cfn.describe_change_set(StackName=stack, ChangeSetName=name).get("StatusReason", "")
            if any(text in reason for text in NO_CHANGES):
                self.cfn.delete_change_set(StackName=stack, ChangeSetName=name)
                self.log(f"{stack}: no changes")
                return
            raise DeployError(f"change set {name} of {stack} failed: {reason or exc}") from exc
        self.log(f"{stack}: executing change set {name} ({kind.lower()})")
        self.cfn.execute_change_set(StackName=stack, ChangeSetName=name)
        waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
        try:
            self.cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig=wait)
        except WaiterError as exc:
            raise DeployError(f"{stack} did not {kind.lower()}: {self.failures()}") from exc
        self.log(f"{stack}: {self.stack_status()}")

    def failures(self) -> str:
        events = self.cfn.describe_stack_events(StackName=self.options.stack)["StackEvents"]
        failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")][:5]
        return (
            "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed) or "?"
        )

    def physical_id(self, logical_id: str) -> str:
        resource = self.cfn.describe_stack_resource(
            StackName=self.options.stack, LogicalResourceId=logical_id
        )
        return str(resource["StackResourceDetail"]["PhysicalResourceId"])

    # -- the secret-hashing key -------------------------------------------------------------------
    def secret_hash_key_blob(self, alias: str, template: Json) -> str:
        """The stack's sealed secret-hashing key: the SSM parameter's, else the one its functions
        already run with (put back in SSM), else a new one (only while no function has one)."""
        name = blob_parameter_name(self.options.stack)
        blob = self.stored_blob(name)
        if blob is None:
            blob = self.deployed_blob(template)
            if blob is not None:
                self.log(f"{name} was missing: restoring it from the deployed functions")
        if blob is None:
            self.log(f"sealing a new secret-hashing key with {self.options.stack}'s data key into {name}")
            blob = new_key_blob(KmsEncryptor(self.physical_id(DATA_KEY), lambda: self.kms).encrypt)
        self.check_opens(blob, alias, name)
        if self.stored_blob(name) is None:
            self.keep(name, blob)
        return blob

    def stored_blob(self, name: str) -> str | None:
        try:
            value: str = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            return value
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise

    def deployed_blob(self, template: Json) -> str | None:
        """The sealed key a deployed function of the stack carries (the first one that has one)."""
        for logical_id, resource in sorted(template["Resources"].items()):
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            try:
                name = self.physical_id(logical_id)
            except ClientError:  # not in the stack (yet)
                continue
            config = self.lambda_.get_function_configuration(FunctionName=name)
            value = config.get("Environment", {}).get("Variables", {}).get(SECRET_HASH_KEY_BLOB)
            if value and value != SECRET_HASH_KEY_PENDING:
                return str(value)
        return None

    def check_opens(self, blob: str, alias: str, name: str) -> None:
        """The blob must open with the data key the functions decrypt with (`alias`)."""
        try:
            key = KmsEncryptor(alias, lambda: self.kms).decrypt(blob, SECRET_HASH_KEY_CONTEXT)
        except (DecryptionFailed, EncryptionUnavailable, ValueError) as exc:
            raise DeployError(
                f"the secret-hashing key in {name} does not open with {alias} ({exc}): it was sealed "
                "by another data key (an earlier stack's?), or these credentials may not use it. Every "
                "stored secret hash depends on it, so make deploy will not replace it; restore the "
                "right one, or delete the parameter only if no stored secret is to survive"
            ) from exc
        if len(key) < MIN_KEY_BYTES:
            raise DeployError(f"the secret-hashing key in {name} is shorter than {MIN_KEY_BYTES} bytes")

    def keep(self, name: str, blob: str) -> None:
        try:
            self.ssm.put_parameter(
                Name=name,
                Value=blob,
                Type="SecureString",
                Overwrite=False,
                Description=(
                    f"{self.options.stack}'s secret-hashing key, sealed with its data key (make deploy). "
                    "Never replace it: every stored secret hash depends on it."
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
                raise
            raise DeployError(
                f"{name} appeared during this deploy (another deploy?): run make deploy again"
            ) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make deploy", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--stack", default=DEFAULT_STACK)
    parser.add_argument("--region", default=None, help="default: the AWS configuration's")
    parser.add_argument(
        "--issuer", default=None, help="a custom domain's https:// URL (default: the distribution's)"
    )
    parser.add_argument("--artifacts-bucket", default=None)
    parser.add_argument("--build-dir", type=Path, default=package.PROJECT / "build")
    args = parser.parse_args(argv)
    if args.issuer and not args.issuer.rstrip("/").startswith("https://"):
        parser.error("ISSUER must be an https:// URL")
    import boto3

    options = Options(
        stack=args.stack,
        issuer=args.issuer.rstrip("/") if args.issuer else None,
        artifacts_bucket=args.artifacts_bucket or None,
        build_dir=args.build_dir.resolve(),
    )
    try:
        Deployer(boto3.session.Session(region_name=args.region), options).run()
    except (DeployError, BotoCoreError, ClientError) as exc:
        print(f"make deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
