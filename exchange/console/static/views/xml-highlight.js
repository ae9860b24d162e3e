// A small XML highlighter for the documents a message page shows.
//
// The document is a sender's text: it is never parsed as HTML and never set as innerHTML.
// It is cut into tokens (tags with their names and attributes, text, comments, CDATA,
// processing instructions) and each token becomes a text node, inside a <span> whose class
// says how to colour it.  Whatever the text holds, the browser only ever sees text.

const TOKEN = /<!--[\s\S]*?(?:-->|$)|<!\[CDATA\[[\s\S]*?(?:\]\]>|$)|<\?[\s\S]*?(?:\?>|$)|<\/?[^\s<>/]+(?:\s+[^\s=<>/]+\s*=\s*(?:"[^"]*"|'[^']*')|\s+[^\s<>/]+)*\s*\/?>|[^<]+|</g;
const TAG = /^(<\/?)([^\s<>/]+)([\s\S]*?)(\/?>)$/;
const ATTRIBUTE = /(\s+)([^\s=<>/]+)(?:(\s*=\s*)("[^"]*"|'[^']*'))?/g;

function span(cls, text) {
  const node = document.createElement("span");
  node.className = cls;
  node.textContent = text;
  return node;
}

function tag(out, token) {
  const parts = TAG.exec(token);
  if (!parts) {
    out.push(span("x-text", token));
    return;
  }
  const [, open, name, attributes, close] = parts;
  out.push(span("x-punct", open), span("x-tag", name));
  let last = 0;
  for (const match of attributes.matchAll(ATTRIBUTE)) {
    if (match.index > last) out.push(document.createTextNode(attributes.slice(last, match.index)));
    const [, space, attr, equals, value] = match;
    out.push(document.createTextNode(space), span("x-attr", attr));
    if (equals !== undefined) out.push(span("x-punct", equals), span("x-value", value));
    last = match.index + match[0].length;
  }
  if (last < attributes.length) out.push(document.createTextNode(attributes.slice(last)));
  out.push(span("x-punct", close));
}

// The nodes that show `text` highlighted, to append to a <pre>.
export function highlight(text) {
  const out = [];
  for (const [token] of text.matchAll(TOKEN)) {
    if (token.startsWith("<!--")) out.push(span("x-comment", token));
    else if (token.startsWith("<![CDATA[")) out.push(span("x-cdata", token));
    else if (token.startsWith("<?")) out.push(span("x-pi", token));
    else if (token.startsWith("<") && token.length > 1) tag(out, token);
    else out.push(span("x-text", token));
  }
  return out;
}
