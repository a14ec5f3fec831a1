/** A story opening of about 120 tokens: long enough that a budget of 48 per head really evicts (the CLI's and playground's default prompt). */
export const DEMO_PROMPT =
  'Once upon a time, in a small house at the edge of a big green forest, there lived a little girl named Mia. ' +
  'Mia had a red hat, a brown dog called Max and a garden full of yellow flowers. Every morning she gave water ' +
  'to the flowers, and Max ran after the butterflies. One day, a little bird with a hurt wing fell into the garden. ' +
  'Mia picked it up very gently and took it inside. She gave the bird some seeds and a bowl of water, and Max ' +
  'sat next to it all day. The next morning,';

