//! Turning a shopper's address text into a point, embedded: the cities, states and postcodes
//! of the stores' own addresses plus a small gazetteer shipped with the gateway. Text that
//! names no known place, or several, is refused: the locator never guesses.

use super::LocationRecord;
use super::geo::Point;

/// Places the gateway knows besides its stores' own: `(city, state, postcode, lat, lon)`.
const GAZETTEER: &[(&str, &str, &str, f64, f64)] = &[
    ("Baltimore", "MD", "21202", 39.2904, -76.6122),
    ("Washington", "DC", "20001", 38.9072, -77.0369),
    ("Pittsburgh", "PA", "15222", 40.4406, -79.9959),
    ("Cleveland", "OH", "44113", 41.4993, -81.6944),
    ("Columbus", "OH", "43215", 39.9612, -82.9988),
    ("Cincinnati", "OH", "45202", 39.1031, -84.5120),
    ("Indianapolis", "IN", "46204", 39.7684, -86.1581),
    ("Milwaukee", "WI", "53202", 43.0389, -87.9065),
    ("St. Louis", "MO", "63101", 38.6270, -90.1994),
    ("New Orleans", "LA", "70112", 29.9511, -90.0715),
    ("Orlando", "FL", "32801", 28.5383, -81.3792),
    ("Tampa", "FL", "33602", 27.9506, -82.4572),
    ("Raleigh", "NC", "27601", 35.7796, -78.6382),
    ("Richmond", "VA", "23219", 37.5407, -77.4360),
    ("Sacramento", "CA", "95814", 38.5816, -121.4944),
    ("Albuquerque", "NM", "87102", 35.0844, -106.6504),
    ("Tucson", "AZ", "85701", 32.2226, -110.9747),
    ("Portland", "ME", "04101", 43.6591, -70.2568),
    ("Cambridge", "MA", "02139", 42.3736, -71.1097),
    ("Brooklyn", "NY", "11201", 40.6782, -73.9442),
    ("Oakland", "CA", "94612", 37.8044, -122.2712),
    ("Honolulu", "HI", "96813", 21.3069, -157.8583),
    ("Anchorage", "AK", "99501", 61.2181, -149.9003),
];

/// Why a text is not a place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeocodeError {
    /// No known place matches.
    #[error("no place is known as `{0}`; try a city, a city and state, or a postcode")]
    Unknown(String),
    /// Several places match.
    #[error("`{0}` matches several places ({1}); add the state")]
    Ambiguous(String, String),
    /// The geocoding service failed.
    #[error("the geocoding service is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone)]
struct Place {
    city: String,
    state: String,
    postcode: String,
    point: Point,
}

fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

/// Finds `text` among the stores' places and the shipped gazetteer.
pub fn locate(
    text: &str,
    stores: &[std::sync::Arc<LocationRecord>],
) -> Result<Point, GeocodeError> {
    let words = normalise(text);
    if words.is_empty() {
        return Err(GeocodeError::Unknown(text.to_owned()));
    }
    let mut places: Vec<Place> = stores
        .iter()
        .map(|s| Place {
            city: s.city.clone(),
            state: s.province_code.clone(),
            postcode: s.zip.clone(),
            point: Point {
                latitude: s.latitude,
                longitude: s.longitude,
            },
        })
        .collect();
    places.extend(
        GAZETTEER
            .iter()
            .map(|(city, state, postcode, lat, lon)| Place {
                city: (*city).into(),
                state: (*state).into(),
                postcode: (*postcode).into(),
                point: Point {
                    latitude: *lat,
                    longitude: *lon,
                },
            }),
    );
    // A postcode names one place.
    if let Some(place) = places
        .iter()
        .find(|p| words.iter().any(|w| *w == p.postcode.to_lowercase()))
    {
        return Ok(place.point);
    }
    // Else the longest city name in the text; its state, when given, must agree.
    let named: Vec<&Place> = places
        .iter()
        .filter(|p| contains_phrase(&words, &normalise(&p.city)))
        .collect();
    let longest = named
        .iter()
        .map(|p| normalise(&p.city).len())
        .max()
        .unwrap_or(0);
    let named: Vec<&Place> = named
        .into_iter()
        .filter(|p| normalise(&p.city).len() == longest)
        .collect();
    let with_state: Vec<&Place> = named
        .iter()
        .copied()
        .filter(|p| words.contains(&p.state.to_lowercase()))
        .collect();
    let chosen = if with_state.is_empty() {
        named
    } else {
        with_state
    };
    let mut distinct: Vec<&Place> = Vec::new();
    for place in chosen {
        if !distinct
            .iter()
            .any(|d| d.city == place.city && d.state == place.state)
        {
            distinct.push(place);
        }
    }
    match distinct.as_slice() {
        [] => Err(GeocodeError::Unknown(text.to_owned())),
        [one] => Ok(one.point),
        many => Err(GeocodeError::Ambiguous(
            text.to_owned(),
            many.iter()
                .map(|p| format!("{}, {}", p.city, p.state))
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_states_and_postcodes_are_found_and_nothing_is_guessed() {
        let stores: Vec<std::sync::Arc<LocationRecord>> = super::super::demo_locations()
            .into_iter()
            .map(std::sync::Arc::new)
            .collect();
        let boston = locate("Boston", &stores).expect("Boston");
        assert!((boston.latitude - 42.3581).abs() < 1e-9);
        assert_eq!(locate("1 Beacon St, Boston, MA", &stores), Ok(boston));
        assert_eq!(locate("02108", &stores), Ok(boston));
        assert!(
            locate("Honolulu HI", &stores).is_ok(),
            "the shipped gazetteer"
        );
        assert!(matches!(
            locate("Portland", &stores),
            Err(GeocodeError::Ambiguous(..))
        ));
        assert!(locate("Portland, OR", &stores).is_ok());
        assert!(matches!(
            locate("Bostn", &stores),
            Err(GeocodeError::Unknown(_))
        ));
        assert!(matches!(
            locate("  ", &stores),
            Err(GeocodeError::Unknown(_))
        ));
    }
}

/// Amazon Location Service's place index: `SearchPlaceIndexForText`, the best match only, and
/// only when the service is sure of it (its relevance at least [`MIN_RELEVANCE`]).
pub struct AmazonGeocoder {
    client: aws_sdk_location::Client,
    index: String,
}

/// The least relevance a place index match needs to count (anything less is a guess).
pub const MIN_RELEVANCE: f64 = 0.8;

/// Drops the host prefix the SDK puts before every endpoint (`places.`, `tracking.`,
/// `routes.`), for an endpoint given outright (a VPC endpoint or a test double): that host already is the one
/// to call.
#[derive(Debug)]
struct EndpointAsGiven;

impl aws_sdk_location::config::Intercept for EndpointAsGiven {
    fn name(&self) -> &'static str {
        "EndpointAsGiven"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_location::config::RuntimeComponents,
        cfg: &mut aws_sdk_location::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state()
            .unset::<aws_smithy_runtime_api::client::endpoint::EndpointPrefix>();
        Ok(())
    }
}

/// A client of Amazon Location in `region` (or at `endpoint_url`, taken as it is).
pub async fn location_client(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    metrics: &std::sync::Arc<crate::Metrics>,
) -> Result<aws_sdk_location::Client, String> {
    let shared = crate::aws::sdk_config(region, endpoint_url)
        .await
        .ok_or("Amazon Location needs a region (`location.region` or `aws.region`)")?;
    let mut config = aws_sdk_location::config::Builder::from(&shared)
        .interceptor(crate::aws::Observed::new(metrics, "location"));
    if endpoint_url.is_some() {
        config = config.interceptor(EndpointAsGiven);
    }
    Ok(aws_sdk_location::Client::from_conf(config.build()))
}

impl AmazonGeocoder {
    /// A client for the place index `index` in `region` (or at `endpoint_url`).
    pub async fn connect(
        index: String,
        region: Option<&str>,
        endpoint_url: Option<&str>,
        metrics: &std::sync::Arc<crate::Metrics>,
    ) -> Result<Self, String> {
        Ok(Self {
            client: location_client(region, endpoint_url, metrics).await?,
            index,
        })
    }

    /// The point the place index finds for `text`.
    pub async fn locate(&self, text: &str) -> Result<Point, GeocodeError> {
        let answer = self
            .client
            .search_place_index_for_text()
            .index_name(&self.index)
            .text(text)
            .max_results(1)
            .send()
            .await
            .map_err(|e| {
                GeocodeError::Unavailable(
                    aws_sdk_location::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let best = answer
            .results()
            .first()
            .filter(|r| r.relevance().unwrap_or(0.0) >= MIN_RELEVANCE)
            .and_then(|r| r.place())
            .and_then(|p| p.geometry())
            .map(|g| g.point().to_vec())
            .ok_or_else(|| GeocodeError::Unknown(text.to_owned()))?;
        match best.as_slice() {
            // The place index answers [longitude, latitude].
            [longitude, latitude] => Ok(Point {
                latitude: *latitude,
                longitude: *longitude,
            }),
            _ => Err(GeocodeError::Unavailable("a place without a point".into())),
        }
    }
}
