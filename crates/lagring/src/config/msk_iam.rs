//! `clusters[].sasl.aws_msk_iam`: the region of an Amazon MSK cluster with IAM access control
//! and optional overrides of where AWS credentials come from, and their mapping to the Kafka
//! adapter's settings.
//!
//! No key or secret is ever in the config: credentials come from the standard AWS chain
//! (environment keys, the EKS IRSA web identity token, the container credentials endpoint, the
//! EC2 instance profile), so `{:?}` of a config has nothing to hide. The keys here only
//! override what the environment says, for setups that run several identities or whose STS
//! endpoint is not the regional default. The checks name the key path of each problem.

use std::path::PathBuf;

use serde::Deserialize;

use super::model::ClientChoice;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MskIamConfig {
    /// The cluster's region; unset means `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    #[serde(default)]
    pub region: Option<String>,
    /// EKS IRSA: the role to assume (unset: `AWS_ROLE_ARN`).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// EKS IRSA: the projected token file (unset: `AWS_WEB_IDENTITY_TOKEN_FILE`).
    #[serde(default)]
    pub web_identity_token_file: Option<PathBuf>,
    /// The STS session name (unset: `AWS_ROLE_SESSION_NAME`, then `lagring`).
    #[serde(default)]
    pub role_session_name: Option<String>,
    /// The STS endpoint of web identity logins (unset: the region's `https://sts.<region>.amazonaws.com/`).
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// A container credentials endpoint (unset: `AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI`).
    #[serde(default)]
    pub container_credentials_uri: Option<String>,
}

/// The environment variables a region is read from when `region` is unset.
const REGION_VARS: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

impl MskIamConfig {
    /// The region: the configured one, else the environment's.
    fn region(&self) -> Option<String> {
        self.region.clone().or_else(|| REGION_VARS.iter().find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty())))
    }

    fn overrides(&self) -> lagring_kafka::AwsChainOverrides {
        lagring_kafka::AwsChainOverrides {
            role_arn: self.role_arn.clone(),
            web_identity_token_file: self.web_identity_token_file.clone(),
            role_session_name: self.role_session_name.clone(),
            sts_endpoint: self.sts_endpoint.clone(),
            container_credentials_uri: self.container_credentials_uri.clone(),
        }
    }

    /// Every problem, each as `path.key: message`.
    pub(crate) fn problems(&self, path: &str, client: ClientChoice) -> Vec<String> {
        let mut errs = Vec::new();
        match self.region() {
            None => errs.push(format!("{path}.region: required (or set AWS_REGION)")),
            Some(region) if !is_region(&region) => {
                errs.push(format!("{path}.region: {region:?} is not an AWS region name (like eu-west-1)"));
            }
            Some(region) => {
                if let Err(e) = lagring_kafka::AwsCredentialSource::from_env(&region, &self.overrides(), env_var) {
                    errs.push(format!("{path}: {e}"));
                }
            }
        }
        if let Some(arn) = self.role_arn.as_deref().filter(|a| !a.starts_with("arn:")) {
            errs.push(format!("{path}.role_arn: expected an arn (arn:aws:iam::<account>:role/<name>), got {arn:?}"));
        }
        if let Some(file) = self.web_identity_token_file.as_ref().filter(|f| !f.is_file()) {
            errs.push(format!("{path}.web_identity_token_file: file not found: {}", file.display()));
        }
        for (key, url) in
            [("sts_endpoint", &self.sts_endpoint), ("container_credentials_uri", &self.container_credentials_uri)]
        {
            if let Some(url) = url.as_deref().filter(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                errs.push(format!("{path}.{key}: expected an http:// or https:// url, got {url:?}"));
            }
        }
        if self.container_credentials_uri.is_some()
            && (self.role_arn.is_some() || self.web_identity_token_file.is_some())
        {
            errs.push(format!(
                "{path}: give container_credentials_uri or role_arn and web_identity_token_file, not both"
            ));
        }
        if client == ClientChoice::Librdkafka {
            errs.push(format!("{path}: needs client: native (librdkafka has no AWS_MSK_IAM mechanism)"));
        }
        errs
    }

    /// The adapter's settings; `None` when the region or the credentials' source cannot be
    /// determined (validation says why).
    pub fn settings(&self) -> Option<lagring_kafka::MskIam> {
        let region = self.region()?;
        let credentials = lagring_kafka::AwsCredentialSource::from_env(&region, &self.overrides(), env_var).ok()?;
        Some(lagring_kafka::MskIam {
            region,
            credentials,
            user_agent: format!("lagring/{}", env!("CARGO_PKG_VERSION")),
        })
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`: lower-case words and a number, joined by dashes.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str, client: ClientChoice) -> Vec<String> {
        let config: MskIamConfig = serde_norway::from_str(yaml).unwrap();
        config.problems("clusters[0].sasl.aws_msk_iam", client)
    }

    #[test]
    fn region_names_are_checked() {
        assert!(is_region("eu-west-1") && is_region("us-gov-west-1") && is_region("ap-southeast-2"));
        assert!(!is_region("EU-west-1") && !is_region("eu-west") && !is_region("eu--1") && !is_region(""));
    }

    #[test]
    fn every_mistake_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-token");
        let yaml = format!(
            "{{ region: Europe, role_arn: my-role, web_identity_token_file: '{}', sts_endpoint: sts.local }}",
            missing.display()
        );
        assert_eq!(
            problems(&yaml, ClientChoice::Librdkafka),
            vec![
                "clusters[0].sasl.aws_msk_iam.region: \"Europe\" is not an AWS region name (like eu-west-1)".to_owned(),
                "clusters[0].sasl.aws_msk_iam.role_arn: expected an arn (arn:aws:iam::<account>:role/<name>), got \"my-role\"".to_owned(),
                format!("clusters[0].sasl.aws_msk_iam.web_identity_token_file: file not found: {}", missing.display()),
                "clusters[0].sasl.aws_msk_iam.sts_endpoint: expected an http:// or https:// url, got \"sts.local\"".to_owned(),
                "clusters[0].sasl.aws_msk_iam: needs client: native (librdkafka has no AWS_MSK_IAM mechanism)".to_owned(),
            ]
        );
    }

    #[test]
    fn explicit_irsa_settings_become_a_web_identity_source() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let yaml = format!(
            "{{ region: eu-west-1, role_arn: 'arn:aws:iam::1:role/r', web_identity_token_file: '{}', \
             sts_endpoint: 'http://127.0.0.1:9/sts' }}",
            token.display()
        );
        assert_eq!(problems(&yaml, ClientChoice::Native), Vec::<String>::new());
        let config: MskIamConfig = serde_norway::from_str(&yaml).unwrap();
        let settings = config.settings().unwrap();
        assert_eq!(settings.region, "eu-west-1");
        let lagring_kafka::AwsCredentialSource::WebIdentity(web) = settings.credentials else {
            panic!("not web identity: {:?}", settings.credentials)
        };
        assert_eq!(
            (web.role_arn.as_str(), web.sts_endpoint.as_str()),
            ("arn:aws:iam::1:role/r", "http://127.0.0.1:9/sts")
        );
        assert_eq!(web.token_file, token);
    }

    #[test]
    fn a_whole_config_names_the_key_paths_of_sasl_mistakes() {
        let yaml = "clusters:\n\
                    - { name: a, brokers: ['b:9098'], client: librdkafka, sasl: { mechanism: AWS_MSK_IAM, \
                        username: u, aws_msk_iam: { region: eu-west-1, container_credentials_uri: 'http://127.0.0.1:9/c' } } }\n\
                    - { name: b, brokers: ['b:9098'], sasl: { mechanism: PLAIN, username: u, password: p, \
                        aws_msk_iam: { region: eu-west-1 } } }\n\
                    - { name: c, brokers: ['b:9098'], probe: {}, sasl: { mechanism: AWS_MSK_IAM, \
                        aws_msk_iam: { region: eu-west-1, container_credentials_uri: 'http://127.0.0.1:9/c' } } }\n";
        let Err(crate::config::ConfigError::Invalid(problems)) = crate::config::parse(yaml) else { panic!("accepted") };
        assert_eq!(
            problems,
            vec![
                "clusters[0].sasl: username, password and oauthbearer are not used with AWS_MSK_IAM",
                "clusters[0].sasl.aws_msk_iam: needs client: native (librdkafka has no AWS_MSK_IAM mechanism)",
                "clusters[1].sasl.aws_msk_iam: only with mechanism AWS_MSK_IAM",
                "clusters[2].probe: not with AWS_MSK_IAM (the probe produces and consumes through librdkafka, \
                 which has no AWS_MSK_IAM)",
            ]
        );
        let ok = "clusters: [ { name: a, brokers: ['b:9098'], tls: {}, sasl: { mechanism: AWS_MSK_IAM, \
                  aws_msk_iam: { region: eu-west-1, container_credentials_uri: 'http://127.0.0.1:9/c' } } } ]";
        let config = crate::config::parse(ok).unwrap();
        let conn = config.clusters[0].kafka_connection();
        let sasl = conn.sasl.unwrap();
        assert_eq!(sasl.mechanism, lagring_kafka::SaslMechanism::AwsMskIam);
        assert_eq!(sasl.msk_iam.unwrap().region, "eu-west-1");
        assert_eq!(config.clusters[0].client_choice(), ClientChoice::Native);
        assert_eq!(crate::config::plaintext_secrets(&config), Vec::<String>::new());
        let plaintext = crate::config::parse(&ok.replace("tls: {}, ", "")).unwrap();
        assert_eq!(
            crate::config::plaintext_secrets(&plaintext),
            vec![
                "clusters[0].sasl: mechanism AWS_MSK_IAM without tls sends a signature that logs in for 15 minutes \
                 in clear text (add tls: {})"
            ]
        );
    }

    #[test]
    fn a_role_without_a_token_file_is_a_mistake() {
        let yaml = "{ region: eu-west-1, role_arn: 'arn:aws:iam::1:role/r' }";
        let found = problems(yaml, ClientChoice::Native);
        // Unless the environment names a token file, which a test cannot rule out.
        if std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_none() {
            assert_eq!(found, vec!["clusters[0].sasl.aws_msk_iam: a role arn is set but no web identity token file"]);
        }
    }
}
