# prod settings. Everything here is safe to commit.

gitlab_url   = "https://gitlab.com"
repositories = ["api", "worker", "migrations", "web"]

# The runner token is not here: it lives in this SSM SecureString parameter,
# created once outside terrace:
#   aws ssm put-parameter --type SecureString \
#     --name /terrace/prod/gitlab-runner-token --value "glrt-..."
runner_token_parameter = "/terrace/prod/gitlab-runner-token"

cluster_admin_role_names = ["platform-admin"]

tags = {
  CostCenter = "platform-prod"
  Owner      = "platform-team"
}
