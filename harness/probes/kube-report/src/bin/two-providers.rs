//! kube-rs issue 1562: the reporter's program with their Cargo.toml (rustls with default
//! features, so aws-lc-rs is compiled in beside kube's ring) but without installing a
//! CryptoProvider. rustls cannot pick a process default between two built-in providers.
//! Nothing here is harness code: this is the user's program (../../README.md).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cfg = kube::Config::infer().await?;
    let client: kube::Client = cfg.try_into()?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    println!("found {} pods", pods.list(&ListParams::default()).await?.items.len());
    Ok(())
}
