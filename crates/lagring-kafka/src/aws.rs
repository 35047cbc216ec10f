//! Settings of the `AWS_MSK_IAM` SASL mechanism: the region the cluster is in and where AWS
//! credentials come from, picked the way AWS SDKs walk their default chain (environment keys,
//! then a web identity token for EKS IRSA, then the container credentials endpoint of ECS and
//! EKS Pod Identity, then the EC2 instance profile), so a pod or instance that works with the
//! AWS CLI works with lagring without keys in its configuration.
//!
//! Every endpoint of the chain is a setting, not a constant, so a test points it at loopback.
//! `{:?}` never shows a secret key, a session token or an authorization token.

use std::fmt;
use std::path::PathBuf;

/// The default STS endpoint of `region` (AssumeRoleWithWebIdentity).
pub fn default_sts_endpoint(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com/")
}

/// The EC2 instance metadata service (IMDSv2), unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Where ECS puts the container credentials endpoint a relative URI is resolved against.
pub const ECS_CREDENTIALS_HOST: &str = "http://169.254.170.2";

/// `AWS_MSK_IAM`: the cluster's region and the credentials' source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MskIam {
    /// The region of the cluster, part of every signature's credential scope.
    pub region: String,
    pub credentials: AwsCredentialSource,
    /// `user-agent` of the login payload.
    pub user_agent: String,
}

/// An access key, a secret key and, for temporary credentials, a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where AWS credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsCredentialSource {
    /// Keys given once (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    Static(AwsKeys),
    /// STS AssumeRoleWithWebIdentity with a token file (EKS IRSA), re-read at every refresh.
    WebIdentity(WebIdentity),
    /// The container credentials endpoint (ECS task roles, EKS Pod Identity).
    Container(ContainerCredentials),
    /// The EC2 instance profile through IMDSv2 at this base URL.
    InstanceProfile { endpoint: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebIdentity {
    pub token_file: PathBuf,
    pub role_arn: String,
    pub session_name: String,
    /// The STS endpoint, e.g. [`default_sts_endpoint`].
    pub sts_endpoint: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCredentials {
    /// The full URL of the endpoint.
    pub uri: String,
    pub authorization: Option<ContainerAuthorization>,
}

/// The `Authorization` header of a container credentials request.
#[derive(Clone, PartialEq, Eq)]
pub enum ContainerAuthorization {
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Token(String),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (EKS Pod Identity rotates it), read at each request.
    File(PathBuf),
}

impl fmt::Debug for ContainerAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerAuthorization::Token(_) => f.write_str("Token(<redacted>)"),
            ContainerAuthorization::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Explicit settings that win over the environment in [`AwsCredentialSource::from_env`].
#[derive(Clone, Debug, Default)]
pub struct AwsChainOverrides {
    pub role_arn: Option<String>,
    pub web_identity_token_file: Option<PathBuf>,
    pub role_session_name: Option<String>,
    pub sts_endpoint: Option<String>,
    pub container_credentials_uri: Option<String>,
}

impl AwsCredentialSource {
    /// The first source of the default chain that `var` (an environment lookup) and
    /// `overrides` configure; the instance profile when none does.
    pub fn from_env(
        region: &str,
        overrides: &AwsChainOverrides,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let explicit_web = overrides.role_arn.is_some() || overrides.web_identity_token_file.is_some();
        if !explicit_web
            && overrides.container_credentials_uri.is_none()
            && let (Some(access_key_id), Some(secret_access_key)) =
                (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        {
            let session_token = var("AWS_SESSION_TOKEN");
            return Ok(AwsCredentialSource::Static(AwsKeys { access_key_id, secret_access_key, session_token }));
        }
        let token_file =
            overrides.web_identity_token_file.clone().or_else(|| var("AWS_WEB_IDENTITY_TOKEN_FILE").map(PathBuf::from));
        let role_arn = overrides.role_arn.clone().or_else(|| var("AWS_ROLE_ARN"));
        if overrides.container_credentials_uri.is_none() {
            match (token_file, role_arn) {
                (Some(token_file), Some(role_arn)) => {
                    let session_name = overrides
                        .role_session_name
                        .clone()
                        .or_else(|| var("AWS_ROLE_SESSION_NAME"))
                        .unwrap_or_else(|| "lagring".to_owned());
                    let sts_endpoint = overrides.sts_endpoint.clone().unwrap_or_else(|| default_sts_endpoint(region));
                    return Ok(AwsCredentialSource::WebIdentity(WebIdentity {
                        token_file,
                        role_arn,
                        session_name,
                        sts_endpoint,
                    }));
                }
                (Some(_), None) => return Err("a web identity token file is set but no role arn".to_owned()),
                (None, Some(_)) if explicit_web => {
                    return Err("a role arn is set but no web identity token file".to_owned());
                }
                _ => {}
            }
        }
        let uri =
            overrides.container_credentials_uri.clone().or_else(|| var("AWS_CONTAINER_CREDENTIALS_FULL_URI")).or_else(
                || {
                    var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                        .map(|relative| format!("{ECS_CREDENTIALS_HOST}{relative}"))
                },
            );
        if let Some(uri) = uri {
            let authorization = var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .map(|f| ContainerAuthorization::File(PathBuf::from(f)))
                .or_else(|| var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(ContainerAuthorization::Token));
            return Ok(AwsCredentialSource::Container(ContainerCredentials { uri, authorization }));
        }
        let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned());
        Ok(AwsCredentialSource::InstanceProfile { endpoint: endpoint.trim_end_matches('/').to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_chain_takes_the_first_source_configured() {
        let none = AwsChainOverrides::default();
        let keys = env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_ROLE_ARN", "r")]);
        assert_eq!(
            AwsCredentialSource::from_env("eu-west-1", &none, keys).unwrap(),
            AwsCredentialSource::Static(AwsKeys {
                access_key_id: "AKID".to_owned(),
                secret_access_key: "s".to_owned(),
                session_token: None
            })
        );
        let irsa = env(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"), ("AWS_ROLE_ARN", "arn:r")]);
        assert_eq!(
            AwsCredentialSource::from_env("eu-west-1", &none, irsa).unwrap(),
            AwsCredentialSource::WebIdentity(WebIdentity {
                token_file: PathBuf::from("/var/run/token"),
                role_arn: "arn:r".to_owned(),
                session_name: "lagring".to_owned(),
                sts_endpoint: "https://sts.eu-west-1.amazonaws.com/".to_owned(),
            })
        );
        let pod_identity = env(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/pod-token"),
        ]);
        assert_eq!(
            AwsCredentialSource::from_env("eu-west-1", &none, pod_identity).unwrap(),
            AwsCredentialSource::Container(ContainerCredentials {
                uri: "http://169.254.170.23/v1/credentials".to_owned(),
                authorization: Some(ContainerAuthorization::File(PathBuf::from("/var/run/pod-token"))),
            })
        );
        let ecs = env(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")]);
        let AwsCredentialSource::Container(c) = AwsCredentialSource::from_env("r", &none, ecs).unwrap() else {
            panic!("not the container endpoint")
        };
        assert_eq!(c.uri, "http://169.254.170.2/v2/credentials/x");
        assert_eq!(
            AwsCredentialSource::from_env("r", &none, env(&[])).unwrap(),
            AwsCredentialSource::InstanceProfile { endpoint: DEFAULT_IMDS_ENDPOINT.to_owned() }
        );
        let half = env(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]);
        assert_eq!(
            AwsCredentialSource::from_env("r", &none, half).unwrap_err(),
            "a web identity token file is set but no role arn"
        );
    }

    #[test]
    fn explicit_settings_win_over_environment_keys() {
        let overrides = AwsChainOverrides {
            role_arn: Some("arn:x".to_owned()),
            web_identity_token_file: Some(PathBuf::from("/t")),
            sts_endpoint: Some("http://127.0.0.1:1/".to_owned()),
            ..AwsChainOverrides::default()
        };
        let keys = env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        let AwsCredentialSource::WebIdentity(w) = AwsCredentialSource::from_env("r", &overrides, keys).unwrap() else {
            panic!("not web identity")
        };
        assert_eq!((w.role_arn.as_str(), w.sts_endpoint.as_str()), ("arn:x", "http://127.0.0.1:1/"));
    }

    #[test]
    fn debug_output_has_no_secret() {
        let keys = AwsKeys {
            access_key_id: "AKID".to_owned(),
            secret_access_key: "very-secret".to_owned(),
            session_token: Some("session-secret".to_owned()),
        };
        let shown = format!("{:?} {:?}", keys, ContainerAuthorization::Token("auth-secret".to_owned()));
        for secret in ["very-secret", "session-secret", "auth-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("AKID"), "{shown}");
    }
}
