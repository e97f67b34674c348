"""DynamoDB access: pynamodb models and repositories; every method takes a TenantScope first."""
