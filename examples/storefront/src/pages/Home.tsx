// The home page: products picked for this visitor (the signed-in customer's affinities, else
// what is popular; the best sellers while the recommender knows nothing yet) and the
// departments.
import { useQuery } from "@apollo/client";
import { Link } from "react-router-dom";

import { ProductGrid } from "../components/ProductCard";
import { describeError } from "../errors";
import { graphql } from "../gql";

const HomePage = graphql(`
  query HomePage {
    recommendedProducts(first: 8) { ...ProductCardFields }
    bestSellers: products(first: 8, sortKey: BEST_SELLING, filter: { available: true }) {
      nodes { ...ProductCardFields }
    }
    categories(first: 50) { nodes { id handle title description parent { id } } }
  }
`);

export function Home() {
  const { data, loading, error } = useQuery(HomePage);
  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Loading…</p>;
  const departments = data.categories.nodes.filter((c) => !c.parent);
  const picked = data.recommendedProducts.length > 0;
  return (
    <>
      <section>
        <h1>{picked ? "Recommended for you" : "Best sellers"}</h1>
        <ProductGrid products={picked ? data.recommendedProducts : data.bestSellers.nodes} />
      </section>
      <section>
        <h2>Shop by department</h2>
        <ul className="departments">
          {departments.map((c) => (
            <li key={c.id}>
              <Link to={`/collections/${c.handle}`}>{c.title}</Link>
              <p>{c.description}</p>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
