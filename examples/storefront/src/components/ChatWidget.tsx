// The chat in the corner: a conversation with the shop's assistant (products, order status,
// stores), kept across pages by its session id.
import { useMutation, useQuery } from "@apollo/client";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { graphql } from "../gql";
import type { ChatMessageFieldsFragment } from "../gql/graphql";
import { formatMoney } from "../money";
import { session } from "../session";

export const ChatMessageFields = graphql(`
  fragment ChatMessageFields on ChatMessage {
    id
    author
    text
    cards {
      __typename
      ... on ChatProductsCard { products { id handle title priceRange { minVariantPrice { amount currencyCode } } } }
      ... on ChatOrderCard { number status total { amount currencyCode } }
      ... on ChatStoresCard { locations { id name distanceKm openNow } }
      ... on ChatHandoffCard { reference }
    }
  }
`);

const ChatHistory = graphql(`
  query ChatHistory($id: ID!) {
    chatSession(id: $id) { id messages(last: 50) { ...ChatMessageFields } }
  }
`);

const StartChat = graphql(`
  mutation ChatStart {
    chatSessionStart {
      session { id messages(last: 50) { ...ChatMessageFields } }
      userErrors { code message }
    }
  }
`);

const SendChat = graphql(`
  mutation ChatSend($sessionId: ID!, $text: String!) {
    chatSendMessage(sessionId: $sessionId, text: $text) {
      session { id messages(last: 50) { ...ChatMessageFields } }
      userErrors { code message }
    }
  }
`);

function Cards({ message }: { message: ChatMessageFieldsFragment }) {
  return (
    <>
      {message.cards.map((card, i) => {
        switch (card.__typename) {
          case "ChatProductsCard":
            return (
              <ul key={i} className="chat-products">
                {card.products.map((p) => (
                  <li key={p.id}>
                    <Link to={`/products/${p.handle}`}>{p.title}</Link> {formatMoney(p.priceRange.minVariantPrice)}
                  </li>
                ))}
              </ul>
            );
          case "ChatOrderCard":
            return (
              <p key={i} className="chat-order">
                Order {card.number}: {card.status.replace(/_/g, " ").toLowerCase()}, {formatMoney(card.total)}
              </p>
            );
          case "ChatStoresCard":
            return (
              <ul key={i}>
                {card.locations.map((l) => (
                  <li key={l.id}>
                    {l.name} {l.openNow ? "(open now)" : "(closed)"}
                  </li>
                ))}
              </ul>
            );
          case "ChatHandoffCard":
            return <p key={i}>Reference {card.reference}: a person will get back to you.</p>;
          default:
            return null;
        }
      })}
    </>
  );
}

export function ChatWidget() {
  const [open, setOpen] = useState(false);
  const [sessionId, setSessionId] = useState(session.chatId());
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const history = useQuery(ChatHistory, { variables: { id: sessionId ?? "" }, skip: !open || !sessionId });
  const [start, starting] = useMutation(StartChat);
  const [send, sending] = useMutation(SendChat);
  const messages =
    sending.data?.chatSendMessage.session?.messages ??
    history.data?.chatSession?.messages ??
    starting.data?.chatSessionStart.session?.messages ??
    [];

  const ensureSession = async (): Promise<string | null> => {
    if (sessionId && !(history.data && history.data.chatSession === null)) return sessionId;
    const { data } = await start();
    const id = data?.chatSessionStart.session?.id ?? null;
    session.setChatId(id);
    setSessionId(id);
    return id;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const message = text.trim();
    if (!message) return;
    setProblem(null);
    const id = await ensureSession();
    if (!id) return setProblem("The assistant is not available right now.");
    const { data } = await send({ variables: { sessionId: id, text: message } });
    const errors = data?.chatSendMessage.userErrors ?? [];
    if (errors.length) return setProblem(errors[0].message);
    setText("");
  };

  if (!open) {
    return (
      <button type="button" className="chat-toggle" onClick={() => setOpen(true)}>
        Chat with us
      </button>
    );
  }
  return (
    <aside className="chat" aria-label="Chat">
      <header>
        Shop assistant
        <button type="button" onClick={() => setOpen(false)} aria-label="Close chat">
          ×
        </button>
      </header>
      <ol className="chat-messages">
        {messages.map((m) => (
          <li key={m.id} className={m.author === "BOT" ? "bot" : "shopper"}>
            <p>{m.text}</p>
            <Cards message={m} />
          </li>
        ))}
      </ol>
      {problem && <p role="alert">{problem}</p>}
      <form onSubmit={submit}>
        <input aria-label="Message" value={text} onChange={(e) => setText(e.target.value)} maxLength={500} />
        <button type="submit" disabled={sending.loading}>
          Send
        </button>
      </form>
    </aside>
  );
}
