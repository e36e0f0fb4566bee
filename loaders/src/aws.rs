//! The AWS SDK configuration every AWS engine starts from: the standard chain (credentials,
//! region), with the region and endpoint the gateway's settings give.

/// The shared SDK configuration; `None` when no region is set anywhere (setting, `AWS_REGION`
/// or profile), which every AWS engine needs.
pub async fn sdk_config(
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> Option<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    shared.region().is_some().then_some(shared)
}

/// The shared SDK configuration for `what` (an engine, named as its setting is), or the error
/// that says it needs a region.
pub async fn engine_config(
    what: &str,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<aws_config::SdkConfig, crate::domain::OpenError> {
    sdk_config(region, endpoint_url).await.ok_or_else(|| {
        crate::domain::OpenError::new(format!(
            "{what} needs an AWS region (`aws.region` or AWS_REGION)"
        ))
    })
}
