"""EC2's error codes, worded as EC2 words them.

Clients branch on these codes (boto3 waiters retry on
``InvalidInstanceID.NotFound``, Terraform on ``IncorrectInstanceState``),
so each one here is AWS's exact code with AWS's message form. All are
sender faults with status 400 unless AWS says otherwise (403 for
``UnauthorizedOperation``, 412 for ``DryRunOperation``).
"""

from __future__ import annotations

from collections.abc import Iterable

from silvereye.services.gateway.errors import ServiceError


def error(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(code, message, status)


def _quoted(ids: Iterable[str]) -> str:
    return ", ".join(ids)


def invalid_parameter(message: str) -> ServiceError:
    return error("InvalidParameterValue", message)


def invalid_value(value: object, parameter: str, detail: str = "") -> ServiceError:
    tail = f" {detail}" if detail else ""
    return error("InvalidParameterValue", f"Value ({value}) for parameter {parameter} is invalid.{tail}")


def missing_parameter(name: str) -> ServiceError:
    return error("MissingParameter", f"The request must contain the parameter {name}")


def combination(message: str) -> ServiceError:
    return error("InvalidParameterCombination", message)


def unsupported(message: str) -> ServiceError:
    return error("Unsupported", message)


def malformed_id(value: str, expected_prefix: str, code: str) -> ServiceError:
    return error(code, f'Invalid id: "{value}" (expecting "{expected_prefix}-...")')


def instance_not_found(ids: list[str]) -> ServiceError:
    if len(ids) == 1:
        return error("InvalidInstanceID.NotFound", f"The instance ID '{ids[0]}' does not exist")
    return error("InvalidInstanceID.NotFound", f"The instance IDs '{_quoted(ids)}' do not exist")


def image_not_found(ids: list[str]) -> ServiceError:
    return error("InvalidAMIID.NotFound", f"The image id '[{_quoted(ids)}]' does not exist")


def key_pair_not_found(name: str) -> ServiceError:
    return error("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")


def key_pair_id_not_found(key_id: str) -> ServiceError:
    return error("InvalidKeyPair.NotFound", f"The key pair ID '{key_id}' does not exist")


def key_pair_duplicate(name: str) -> ServiceError:
    return error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")


def key_format(detail: str = "Key is not in valid OpenSSH public key format") -> ServiceError:
    return error("InvalidKey.Format", detail)


def incorrect_state(instance_id: str, state: str, action: str) -> ServiceError:
    return error(
        "IncorrectInstanceState",
        f"The instance '{instance_id}' is not in a state from which it can be {action}.",
    )


def insufficient_capacity(instance_type: str, zone: str, detail: str = "") -> ServiceError:
    message = (
        f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
        f"requested ({zone}). Our system will be working on provisioning additional capacity."
    )
    return error("InsufficientInstanceCapacity", message + (f" ({detail})" if detail else ""))


def unauthorized(detail: str = "") -> ServiceError:
    message = "You are not authorized to perform this operation."
    return error("UnauthorizedOperation", message + (f" {detail}" if detail else ""), 403)


def dry_run() -> ServiceError:
    return error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def operation_not_permitted(message: str) -> ServiceError:
    return error("OperationNotPermitted", message)


def pagination_token() -> ServiceError:
    return error("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")


def invalid_filter(name: str) -> ServiceError:
    return error("InvalidParameterValue", f"The filter '{name}' is invalid")


def invalid_zone(name: str) -> ServiceError:
    return error("InvalidParameterValue", f"Invalid availability zone: [{name}]")


def idempotent_mismatch(token: str) -> ServiceError:
    return error(
        "IdempotentParameterMismatch",
        f"The client token '{token}' was already used with different parameters.",
    )


def invalid_manifest(detail: str) -> ServiceError:
    return error("InvalidManifest", detail)


def image_name_duplicate(name: str, image_id: str) -> ServiceError:
    return error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {image_id}")


def group_not_found(name: str) -> ServiceError:
    return error("InvalidGroup.NotFound", f"The security group '{name}' does not exist in default VPC")


def group_id_not_found(group_id: str) -> ServiceError:
    return error("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")


def subnet_not_found(subnet_id: str) -> ServiceError:
    return error("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")


def vpc_not_found(vpc_id: str) -> ServiceError:
    return error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")


def invalid_id(resource_id: str) -> ServiceError:
    return error("InvalidID", f"The ID '{resource_id}' is not valid")
