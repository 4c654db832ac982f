# stage settings. Everything here is safe to commit.

gitlab_url   = "https://gitlab.com"
repositories = ["api", "worker", "migrations"]

# The runner token is not here: it lives in this SSM SecureString parameter,
# created once outside terrace:
#   aws ssm put-parameter --type SecureString \
#     --name /terrace/stage/gitlab-runner-token --value "glrt-..."
runner_token_parameter = "/terrace/stage/gitlab-runner-token"

cluster_admin_role_names = ["platform-admin"]

tags = {
  CostCenter = "platform-stage"
  Owner      = "platform-team"
}
