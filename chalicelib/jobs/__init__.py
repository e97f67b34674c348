"""Platform jobs: scheduled cleanup and the audit export (stream -> S3). These, with
authentication, are the only code that reads across tenants, each in one named module."""
