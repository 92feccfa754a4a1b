export function Logo({ size = 24 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden>
      <rect width="32" height="32" rx="7" fill="var(--accent)" />
      <circle cx="11" cy="10" r="3.2" fill="#fff" />
      <circle cx="21" cy="22" r="3.2" fill="#fff" />
      <path
        d="M11 13v3a3 3 0 0 0 3 3h4"
        stroke="#fff"
        strokeWidth="2.4"
        fill="none"
        strokeLinecap="round"
      />
    </svg>
  );
}
