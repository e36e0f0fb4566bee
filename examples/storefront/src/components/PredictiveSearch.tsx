// The header's search box: suggestions as the shopper types (products, categories and whole
// queries, from `predictiveSearch`, a quarter second after the last key), Enter for the full
// search page.
import { useQuery } from "@apollo/client";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";

import { graphql } from "../gql";

const Suggest = graphql(`
  query PredictiveSearch($query: String!) {
    predictiveSearch(query: $query, limit: 5) {
      products { id handle title }
      categories { id handle title }
      queries { text }
    }
  }
`);

function useDebounced<T>(value: T, millis: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), millis);
    return () => clearTimeout(timer);
  }, [value, millis]);
  return settled;
}

export function PredictiveSearch() {
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const query = useDebounced(text.trim(), 250);
  const navigate = useNavigate();
  const { data } = useQuery(Suggest, { variables: { query }, skip: query.length < 2 });
  const found = data?.predictiveSearch;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) return;
    setOpen(false);
    navigate(`/search?q=${encodeURIComponent(text.trim())}`);
  };
  const close = () => setOpen(false);

  return (
    <form role="search" className="predictive-search" onSubmit={submit}>
      <input
        type="search"
        aria-label="Search products"
        placeholder="Search products"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onBlur={() => setTimeout(close, 200)}
      />
      {open && found && query.length >= 2 && (
        <div className="suggestions" role="listbox" aria-label="Suggestions">
          {found.queries.map((q) => (
            <Link key={q.text} to={`/search?q=${encodeURIComponent(q.text)}`} onClick={close}>
              {q.text}
            </Link>
          ))}
          {found.products.map((p) => (
            <Link key={p.id} to={`/products/${p.handle}`} onClick={close} className="suggested-product">
              {p.title}
            </Link>
          ))}
          {found.categories.map((c) => (
            <Link key={c.id} to={`/collections/${c.handle}`} onClick={close}>
              in {c.title}
            </Link>
          ))}
        </div>
      )}
    </form>
  );
}
