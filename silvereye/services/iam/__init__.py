"""IAM: users, groups, roles, policies and keys, and the policy engine every request passes through."""
