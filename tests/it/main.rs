//! Integration tests: the real router on a real port, driven over HTTP.

mod batching;
mod cache;
mod cart;
mod catalog;
mod checkout;
mod cli;
mod cognito;
mod contract;
mod customer;
mod deploy;
mod dynamodb;
mod fake_aws;
mod health;
mod http;
mod http_audit;
mod location;
mod opensearch;
mod outbox;
mod pagination;
mod persisted;
mod pickup;
mod recommend;
mod search;
mod security;
mod subscriptions;
mod support;
