# prod settings. Everything here is safe to commit.

gitlab_url   = "https://gitlab.com"
repositories = ["api", "worker", "migrations", "web"]

# PLACEHOLDER, NOT A REAL TOKEN. It lets `terrace plan -e prod` run anywhere
# (also against a local moto endpoint). As in Terraform, values in this file
# win over TF_VAR_/TERRACE_VAR_ environment variables, so pass the real token
# in a var file that is never committed (a CI "file" secret, for instance):
#   terrace apply -e prod --var-file "$RUNNER_TOKEN_TFVARS"
runner_registration_token = "glrt-FAKE-prod-placeholder-not-a-real-token"

tags = {
  CostCenter = "platform-prod"
  Owner      = "platform-team"
}
